"""The ``uplift-operator`` command (``kubectl-uplift`` is its own light entry point: ``plugin``).

Subcommands are thin: each delegates to the module that owns the behaviour and is imported
lazily, so ``uplift-operator crds`` does not pay for importing kopf or mlflow.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module with a ``main(argv) -> int``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("uplift_operator.handlers.main", "run the operator (kopf)"),
    "crds": ("uplift_operator.api.crdgen", "print, write or check the generated CRDs"),
    "train": ("uplift_operator.model.trainer", "train an uplift model and register it in MLflow"),
    "dev": ("uplift_operator.devenv.up", "start the local stack: control plane, MLflow, "
            "Prometheus, operator and samples"),
}
# Manual control, the same verbs as ``kubectl uplift VERB NAME`` (``plugin.kubectl_uplift``).
CONTROL_COMMANDS = ("status", "promote", "abort", "retry", "rollback", "pause", "resume")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: uplift-operator <command> [options]\n\ncommands:")
        for name, (_, help_text) in SUBCOMMANDS.items():
            print(f"  {name:<8} {help_text}")
        print(f"  {'|'.join(CONTROL_COMMANDS)} [campaign/]NAME [-n NS]\n           manual "
              "control of an UpliftModel or a Campaign (also `kubectl uplift ...`)")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command in CONTROL_COMMANDS:
        from uplift_operator.plugin import kubectl_uplift

        return kubectl_uplift.main(args)
    if command not in SUBCOMMANDS:
        print(f"uplift-operator: unknown command {command!r}; see --help", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[command][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
