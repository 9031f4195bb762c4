"""The tool commands: ``rules`` (the rule set in force), ``send`` (FHIR delivery) and
``template`` (blank inputs)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen.cli_options import call, criteria_option, rules_option


@click.command(short_help="Print the rule set in force, with evidence.")
@rules_option
@criteria_option
@click.option("--json", "as_json", is_flag=True, help="Print the rule set as JSON.")
def rules(rules_path: Path | None, criteria: str | None, as_json: bool) -> None:
    """Print the rule set in force: ids, conditions, thresholds, evidence.

    Example:

    \b
        reportgen rules --rules my-thresholds.toml
    """
    import json

    from reportgen.rules import load_rules  # not via api: no pandas, charts or WeasyPrint
    from reportgen.rules.describe import describe_rules

    described = describe_rules(call(load_rules, rules_path, criteria=criteria))
    if as_json:
        click.echo(json.dumps(described, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"Rule set {described['name']} {described['version']} "
        f"(criteria {described['criteria']}; {described['specification']})\n"
    )
    bone = described["bone_status"]
    click.echo("Bone status (first match wins):")
    for status in ("osteoporosis", "low_bone_mass", "normal"):
        click.echo(f"  {status:<14} {bone[status]}")
    click.echo(f"  evidence: {bone['evidence']}")
    click.echo("  Fracture sites:")
    for kind, words in bone["fracture_sites"].items():
        click.echo(f"    {kind:<16} {words}")
    iscd = described["iscd"]
    click.echo(f"\nISCD (Z-score ≤ {iscd['z_below_expected_max']:g}): {iscd['below']}")
    click.echo(f"  evidence: {iscd['evidence']}")
    click.echo(f"\nSecondary causes listed beside PLO: {', '.join(described['secondary_causes'])}")
    click.echo("\nRisk flags (reported as present / absent / not recorded):")
    for rule in described["risk_rules"]:
        click.echo(f"  {rule['id']:<28} present when {rule['condition']}")
        click.echo(f"  {'':<28} evidence: {rule['evidence']}")
        if rule["caveat"]:
            click.echo(f"  {'':<28} caveat: {rule['caveat']}")
    click.echo("\nData-quality checks (shown in reports, never risk):")
    for check in described["data_quality"]["checks"]:
        click.echo(f"  {check}")
    click.echo("\nRecommendations:")
    for rec in described["recommendations"]:
        when = " or ".join(rec["statuses"] + [f"flag {f}" for f in rec["flags"]] + rec["facts"])
        needs = "".join(f"; only if {f}" for f in rec["requires"])
        click.echo(f"  {rec['id']:<36} when {when}{needs}")
        for variant in rec["variants"]:
            click.echo(f"  {'':<36} if {variant['when']}: {variant['text']}")


@click.command(short_help="POST the FHIR bundles of OUTDIR to a FHIR server.")
@click.argument("outdir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--fhir-base",
    required=True,
    metavar="URL",
    help="The server's FHIR base URL (https://; http:// only to localhost).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the bearer token (never printed).",
)
@click.option("--dry-run", is_flag=True, help="Check and list what would be sent; no request.")
@click.option(
    "--allow-insecure", is_flag=True, help="Allow plain http:// to a host other than localhost."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1, 600),
    default=30.0,
    show_default=True,
    help="Seconds per request.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries of a transient failure (5xx, 429, timeout, no connection).",
)
def send(
    outdir: Path,
    fhir_base: str,
    token_file: Path | None,
    dry_run: bool,
    allow_insecure: bool,
    timeout_s: float,
    retries: int,
) -> None:
    """POST each patient-<id>.bundle.json listed in OUTDIR/manifest.json to the FHIR server
    at --fhir-base, and record each answer (status, ids) in the manifest.

    The patient (and the organisation, when configured) must already exist on the server:
    each is looked up by identifier first. A bundle already on the server is not sent again.
    A refusal is shown with the server's diagnostics; exit status 1 if any file failed.

    Example:

    \b
        reportgen send output/ --fhir-base https://ehr.example.org/fhir --token-file token.txt
    """
    from reportgen.send import SendError, SendOptions, check_base_url, read_token, send_outdir

    try:
        check_base_url(fhir_base, allow_insecure=allow_insecure)
    except SendError as exc:
        raise click.BadParameter(str(exc), param_hint="--fhir-base") from None
    options = SendOptions(
        base_url=fhir_base,
        token=call(read_token, token_file),
        timeout_s=timeout_s,
        retries=retries,
        allow_insecure=allow_insecure,
    )

    def report(result) -> None:
        if result.status == "failed":
            click.echo(f"Error: {result.error}", err=True)
        elif result.status == "would-send":
            click.echo(f"{result.path}: would POST {len(result.entries)} entries", err=True)
        elif result.status == "already-present":
            click.echo(
                f"{result.path}: already on the server as {result.document_reference}", err=True
            )
        else:
            click.echo(
                f"{result.path}: {result.status} {result.document_reference} "
                f"({len(result.entries)} entries)",
                err=True,
            )

    results = call(
        send_outdir,
        outdir,
        options,
        dry_run=dry_run,
        on_result=report,
        lock_wait_s=click.get_current_context().obj.wait_s,
    )
    failed = sum(r.status == "failed" for r in results)
    click.echo(
        f"{len(results) - failed} of {len(results)} bundle(s) "
        + ("checked (dry run)" if dry_run else "delivered"),
        err=True,
    )
    if not dry_run:
        click.echo(str(outdir / "manifest.json"))  # where the answers are recorded
    if failed:
        sys.exit(1)


@click.command(short_help="Print a blank, commented template: input, settings or scans.")
@click.argument("kind", type=click.Choice(["input", "settings", "scans"]))
def template(kind: str) -> None:
    """Print a blank, commented template of KIND to stdout: ``input`` (the patient CSV, every
    column explained in leading # lines, which the loader skips), ``settings`` (the
    organisation TOML) or ``scans`` (the DXA scans CSV).

    Example:

    \b
        reportgen template input > new-cohort.csv
    """
    from reportgen import api

    click.echo(api.blank_template(kind), nl=False)
