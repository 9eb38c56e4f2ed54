"""`tinygrad-nm`: the command line. Each subcommand lives in its own module."""
import argparse
import importlib
import sys

# subcommand -> (module, one-line help); each module has add_arguments(parser) and run(args)
SUBCOMMANDS = {}
SUBCOMMANDS["train"] = ("tinygrad_nm.train", "train the walkthrough's networks: progress, loss curve, checkpoints")
SUBCOMMANDS["bench"] = ("tinygrad_nm.napkin.cli_bench", "run the benchmark suite: napkin estimates beside measurements")
SUBCOMMANDS["calibrate"] = ("tinygrad_nm.napkin.cli_calibrate", "measure this machine's base rates for the napkin estimates")
SUBCOMMANDS["summary"] = ("tinygrad_nm.napkin.cli_summary",
                          "a task's model layer by layer: shapes, parameters, FLOPs, bytes, predicted time per backend")
SUBCOMMANDS["cuda-report"] = ("tinygrad_nm.backends.numba_cuda.report",
                              "compile every CUDA kernel for sm_80/sm_90 (no GPU needed): registers, shared memory, "
                              "spills, occupancy")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tinygrad-nm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
