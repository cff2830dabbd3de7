"""Crash the interpreter with a NULL pointer read (SIGSEGV)."""

import ctypes


def read_pointer(address):
    return ctypes.string_at(address)  # the culprit line


def main():
    print("reading memory", flush=True)
    read_pointer(0)


main()
