from ekinerja_sim.cli import main

raise SystemExit(main())
