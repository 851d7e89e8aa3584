"""Printing reports: the thesis' Table 5.4 row and several reports as one markdown table."""

from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Sequence

from ..utils.errors import SSDISBError

# Table 5.4 columns (all at IoU 0.50), then the COCO standard three.
THESIS_COLUMNS = [("AP50", "AP(0.50)"), ("AP50_small", "AP(small)"),
                  ("AP50_medium", "AP(medium)"), ("AP50_large", "AP(large)"), ("AR1_50", "AR(1)"),
                  ("AR10_50", "AR(10)"), ("AR100_50", "AR(100)"), ("AR50_small", "AR(small)"),
                  ("AR50_medium", "AR(medium)"), ("AR50_large", "AR(large)")]
COCO_COLUMNS = [("AP", "AP"), ("AP75", "AP75")]


def _num(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def report_name(report: Dict) -> str:
    """A row label: model file (+ backend, + 'box masks')."""
    name = os.path.basename(report.get("model", "model"))
    tag = f" [{report.get('backend', '?')}]"
    if report.get("box_masks"):
        tag += " box-masks"
    return name + tag


def markdown_table(reports: Sequence[Dict], iou_type: str = "segm",
                   names: Sequence[str] = ()) -> List[str]:
    """Thesis-style markdown table, one row per report."""
    cols = THESIS_COLUMNS + COCO_COLUMNS
    lines = ["| model | " + " | ".join(label for _, label in cols) + " | images |",
             "|---|" + "---|" * (len(cols) + 1)]
    for i, rep in enumerate(reports):
        name = names[i] if i < len(names) else report_name(rep)
        m = rep.get(iou_type) or {}  # a box-only report has no segm
        lines.append(f"| {name} | " + " | ".join(_num(m.get(k)) for k, _ in cols)
                     + f" | {rep.get('images', '-')} |")
    return lines


class ReportError(SSDISBError, ValueError):
    """A file given to ``--compare`` is missing or is not an evaluation report."""


def load_reports(paths: Sequence[str]) -> List[Dict]:
    """The reports ``ssd-isb evaluate --output`` wrote, each checked to be one.

    Raises:
        ReportError: a file is missing, is not JSON, or is not a report (one line naming it).
    """
    reports = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as fh:
                rep = json.load(fh)
        except FileNotFoundError:
            raise ReportError(f"{p}: no such report") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReportError(f"{p}: not a JSON report ({err})") from None
        if not isinstance(rep, dict) or not ({"segm", "bbox"} & set(rep)):
            raise ReportError(f"{p}: not an ssd-isb evaluate report (no segm or bbox)")
        reports.append(rep)
    return reports


def compare_names(reports: Sequence[Dict], paths: Sequence[str]) -> List[str]:
    """Row labels for ``--compare``: the model and, as several reports of one model look
    alike, the report file."""
    return [f"{report_name(r)} {os.path.basename(p)}" for r, p in zip(reports, paths)]


def report_lines(report: Dict, output: Optional[str] = None) -> List[str]:
    """What ``ssd-isb evaluate`` prints: both tables, what was skipped, the speed."""
    lines = []
    for iou_type in ("segm", "bbox"):
        if report.get(iou_type) is None:
            lines.append(f"{iou_type}: none (the annotations have no masks)")
            continue
        lines += [f"{iou_type}:"] + markdown_table([report], iou_type)
    if report["missing_images"] or report["unreadable_images"]:
        lines.append(f"skipped {len(report['missing_images'])} missing and "
                     f"{len(report['unreadable_images'])} unreadable images")
    if report.get("truncated_images"):
        lines.append(f"{len(report['truncated_images'])} truncated images scored as far as "
                     f"they decode (e.g. {report['truncated_images'][0]})")
    passes = (f" (tiles {report['tiles']}, zoom {report['zoom']})" if report.get("tiles")
              else "")
    lines.append(f"{report['images']} images, {report['ms_per_image']} ms per image{passes}"
                 + (f" -> {output}" if output else ""))
    return lines
