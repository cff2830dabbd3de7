"""Parse a bad config: json raises deep inside the standard library, called from user code."""

import json


def parse(text):
    return json.loads(text)  # the culprit line: user code calling into json


def load_config(raw):
    return parse(raw)


def main():
    print("loading config")
    load_config("{'lr': 0.1}")


main()
