"""`python -m mock_server`."""

from .cli import main

raise SystemExit(main())
