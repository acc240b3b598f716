"""Commands of the `sids` group (placeholder until implemented)."""


def register(groups) -> None:
    groups.add_parser("sids", help="(not implemented yet)")
