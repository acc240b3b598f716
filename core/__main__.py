"""`python -m core ...` entry point."""
from core.cli import main

raise SystemExit(main())
