import sys

from vaelab.cli.main import main

sys.exit(main())
