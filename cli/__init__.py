"""The `knownfix` command line: thin edges over the service layer."""
