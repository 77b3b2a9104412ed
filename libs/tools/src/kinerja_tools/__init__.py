"""Developer and deploy tools built on kinerja_shared; the service images do not install them."""
