"""Planning rules with no I/O: periods, the catalog and the plan (SKP) state machine."""
