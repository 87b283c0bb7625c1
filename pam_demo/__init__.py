"""Local stand-ins for AWS, for the demo (`./dev run --demo`) and the tests only."""
