"""The roster: Dapodik's people and schools, as every service sees them."""
