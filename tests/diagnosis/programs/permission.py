"""Read a file the job may not read: PermissionError (drops root privileges first)."""

import os
import sys


def read_config(path):
    with open(path) as f:  # the culprit line
        return f.read()


def main():
    if os.getuid() == 0:  # root may read anything: become nobody
        os.setgid(65534)
        os.setuid(65534)
    print("reading", sys.argv[1])
    read_config(sys.argv[1])


main()
