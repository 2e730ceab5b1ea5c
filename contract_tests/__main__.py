"""`python -m contract_tests`: the same as `leads-contract`."""
import sys

from contract_tests.cli import main

sys.exit(main())
