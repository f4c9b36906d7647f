import sys

from conrt.cli import main

sys.exit(main())
