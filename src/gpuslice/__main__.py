"""``python -m gpuslice``: the same as the ``gpuslice`` command."""

from gpuslice.cli import main

if __name__ == "__main__":
    main()
