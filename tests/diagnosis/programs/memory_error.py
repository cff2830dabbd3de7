"""Allocate more than the address-space limit allows: MemoryError."""


def allocate(n_bytes):
    return bytearray(n_bytes)  # the culprit line


def main():
    print("allocating buffers")
    buffers = [allocate(1 << 20) for _ in range(4)]
    buffers.append(allocate(8 << 30))


main()
