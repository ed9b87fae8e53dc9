"""`python -m attn_mlir doctor`: what the package found on this machine."""

import sys

from .doctor import main

if __name__ == "__main__":
    if sys.argv[1:] != ["doctor"]:
        print("usage: python -m attn_mlir doctor", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
