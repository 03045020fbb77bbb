"""Sub-commands of `dozor`; see bot/cli.py for the contract every module follows."""
