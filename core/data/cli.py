"""Commands of the `data` group (placeholder until implemented)."""


def register(groups) -> None:
    groups.add_parser("data", help="(not implemented yet)")
