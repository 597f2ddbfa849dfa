"""A support bot that takes its prompt from promptdeck instead of hard-coding it.

It builds the request it would send to an LLM API (model, max_tokens, temperature,
system prompt, messages) for a few customers, once per tick, and prints it. No network
call is made. Activate another version from a second terminal and watch the next tick
pick it up; see examples/README.md.

    python examples/support_bot.py                  # demo store in .demo/support-bot.db
    python examples/support_bot.py --db URL_OR_PATH --ticks 0 --every 1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
try:
    from promptdeck import Prompt, Prompts
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    from promptdeck import Prompt, Prompts

FEATURE = "customer-support"
DEMO_DB = ROOT / ".demo" / "support-bot.db"

# What the application knows about its customers and its product.
CUSTOMERS = {
    "user-1001": ("Ada", "How do I export my board to CSV?"),
    "user-1002": ("Grace", "¿Puedo cambiar mi plan a anual?"),
    "user-1003": ("Linus", "My automations stopped running this morning."),
    "user-1005": ("Margaret", "Ich habe keinen Zugriff mehr auf mein Konto."),  # in the 10 % canary
}
CONTEXT = {
    "product_name": "Tasklane",
    "known_incidents": "- Automations delayed by up to 30 minutes (investigating)",
    "status_page_url": "https://status.tasklane.example",
    "pricing_url": "https://tasklane.example/pricing",
}
# Served only if the store has never been reachable and no snapshot exists.
FALLBACK = Prompt(
    FEATURE,
    0,
    "claude-sonnet-4-20250514",
    {"max_tokens": 800, "temperature": 0.2},
    "You are a customer support agent for {{product_name}}. Be brief and accurate.",
)


def build_request(prompt: Prompt, customer: str, question: str) -> dict[str, Any]:
    """The body of a Messages API call, built from the served prompt."""
    parameters = prompt.parameters_dict()
    return {
        "model": prompt.model,
        "max_tokens": parameters.pop("max_tokens", 1024),
        **parameters,  # temperature, stop sequences...
        "system": prompt.render(customer_name=customer, **CONTEXT),
        "messages": [{"role": "user", "content": question}],
    }


def ensure_demo_store(path: Path) -> None:
    if path.exists():
        return
    from promptdeck import PromptStore, yamlio

    with PromptStore(path, user="demo") as store:
        store.import_documents(yamlio.read_files([ROOT / "sample_prompts"]))
    print(f"created a demo store at {path} from sample_prompts/")


def main() -> None:
    parser = argparse.ArgumentParser(description="Build LLM requests from promptdeck prompts.")
    parser.add_argument("--db", help=f"store URL or SQLite path (default: {DEMO_DB})")
    parser.add_argument("--env", default="production", help="environment to serve")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between ticks")
    parser.add_argument("--ticks", type=int, default=0, help="stop after N ticks (0: never)")
    parser.add_argument("--full", action="store_true", help="print whole requests every tick")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("promptdeck").setLevel(logging.INFO)  # outages and recoveries

    location = args.db
    if location is None:
        ensure_demo_store(DEMO_DB)
        location = str(DEMO_DB)

    served: dict[str, int] = {}
    with Prompts(location, environment=args.env, refresh_interval=1.0) as prompts:
        print(f"serving {FEATURE!r} from {prompts.display_url} ({args.env}); ctrl+c to stop")
        tick = 0
        try:
            while args.ticks == 0 or tick < args.ticks:
                tick += 1
                print(f"\n--- tick {tick} at {time.strftime('%H:%M:%S')}")
                for user_id, (name, question) in CUSTOMERS.items():
                    prompt = prompts.get(FEATURE, user_id=user_id, default=FALLBACK)
                    request = build_request(prompt, name, question)
                    before = served.get(user_id)
                    served[user_id] = prompt.version
                    note = ""
                    if before is not None and before != prompt.version:
                        note = f"   <- changed from v{before}"
                    kind = "canary" if prompt.canary else "active"
                    if prompt.version == 0:
                        kind = "fallback"
                    print(
                        f"{user_id} ({name}): v{prompt.version} {kind:<8} {request['model']}, "
                        f"max_tokens={request['max_tokens']}, system={len(request['system'])} "
                        f"chars{note}"
                    )
                    if args.full or (tick == 1 and user_id == next(iter(CUSTOMERS))):
                        print(json.dumps(request, indent=2, ensure_ascii=False))
                if args.ticks == 0 or tick < args.ticks:
                    time.sleep(args.every)
        except KeyboardInterrupt:
            print("\nstopped")


if __name__ == "__main__":
    main()
