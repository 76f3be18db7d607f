//! Plain, obviously-correct CPU references for every kiln kernel: the test oracle.
