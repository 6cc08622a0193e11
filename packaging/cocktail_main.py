"""PyInstaller entry script: the ``cocktail`` console script (``app.launcher:main``) in a frozen build."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a spawned worker re-enters here; must not start the program
    from app.launcher import main

    sys.exit(main())
