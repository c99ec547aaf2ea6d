"""TEST FIXTURE (stand-in for Grafana Alloy): zipapp entry point."""
import sys

from alloy_standin.cli import main

sys.exit(main())
