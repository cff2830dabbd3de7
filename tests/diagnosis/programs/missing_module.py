"""Import a module that is not installed, from inside a function."""


def load_backend():
    import adaptive_llm_no_such_module_xyz  # the culprit line

    return adaptive_llm_no_such_module_xyz


def main():
    print("starting")
    load_backend()


main()
