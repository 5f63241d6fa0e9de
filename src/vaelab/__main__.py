import sys

try:
    from vaelab.cli.main import main
except KeyboardInterrupt:  # Ctrl-C in the first milliseconds
    print("vaelab: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
