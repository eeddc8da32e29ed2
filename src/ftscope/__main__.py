import sys

from ftscope.book.cli import main

sys.exit(main())
