"""`tinygrad-nm calibrate`: measure this machine's base rates (a few seconds) and cache them."""
import json

from tinygrad_nm.napkin import rates as rates_mod


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about half the time)")
    parser.add_argument("--show", action="store_true",
                        help="print the rates estimates use now (cached or defaults) without measuring")
    parser.add_argument("--json", action="store_true", help="with --show: the rates as JSON")


def run(args):
    if args.show:
        current = rates_mod.current()
        print(current.describe())
        if args.json:
            print(json.dumps(current.to_json(), indent=1, sort_keys=True))
        else:
            for section, values in current.to_json().items():
                if isinstance(values, dict):
                    print(f"  {section}: " + ", ".join(f"{k}={_short(v)}" for k, v in values.items()))
        return 0
    from tinygrad_nm import napkin
    current = napkin.calibrate(quick=args.quick)
    print(f"saved to {current.path} (override the location with {rates_mod.ENV_VAR}=<file>)")
    return 0


def _short(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)
