import sys

from behavenet.cli import main

sys.exit(main())
