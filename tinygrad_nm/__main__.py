"""`python -m tinygrad_nm`: the same command line as `tinygrad-nm` (for when the script is not on PATH)."""
import sys

from tinygrad_nm.cli import main

if __name__ == "__main__":
    sys.exit(main())
