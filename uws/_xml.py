"""UWS and DALI documents.

UWS documents come from vo-models. Where its output is not valid against the
official UWS 1.1 schema (it writes an empty ``runId`` for jobs without one, and its
``jobInfo`` is a list of strings that becomes repeated ``jobInfo`` elements), the
tree is corrected with lxml before serialisation. DALI error documents are built
with lxml (VOTable 1.3, ``QUERY_STATUS=ERROR``).

Every stored text passes :func:`~uws._text.xml_safe` on its way out: new values are checked at
the edge, but a row stored before that check must not make the job list unreadable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lxml import etree
from pydantic_xml import BaseXmlModel, element
from vo_models.uws import (
    ErrorSummary,
    Jobs,
    JobSummary,
    Parameter,
    ResultReference,
    Results,
    ShortJobDescription,
)
from vo_models.uws.models import NSMAP
from vo_models.uws.types import ErrorType, UWSVersion

from uws._comments import Comment
from uws._kinds import InfoEntry
from uws._models import JobRecord, JobSummaryRef
from uws._text import xml_safe

__all__ = [
    "JOBINFO_NS",
    "UWS_NS",
    "VOTABLE_NS",
    "render_error_votable",
    "render_job",
    "render_job_list",
    "render_parameters",
    "render_results",
]

UWS_NS = NSMAP["uws"]
XSI_NS = NSMAP["xsi"]
VOTABLE_NS = "http://www.ivoa.net/xml/VOTable/v1.3"
#: Namespace of this implementation's jobInfo content (progress, kind).
JOBINFO_NS = "urn:x-uws:jobinfo:v1"

ResultUrl = Callable[[JobRecord, str], str]


class _Parameters(BaseXmlModel, tag="parameters", ns="uws", nsmap=NSMAP):
    """The parameters element with free-form, possibly repeated, parameter ids.

    vo-models' own ``Parameters`` needs one model field per parameter name, which a
    generic service cannot declare.
    """

    parameter: list[Parameter] = element(default_factory=list)


_JobModel = JobSummary[_Parameters]


def _serialise(tree: etree._Element) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _drop_empty(tree: etree._Element, local_names: Sequence[str]) -> None:
    """Remove optional elements that vo-models wrote empty instead of leaving out."""
    for name in local_names:
        for node in tree.iter(f"{{{UWS_NS}}}{name}"):
            if not (node.text or "").strip() and len(node) == 0 and not node.attrib:
                parent = node.getparent()
                if parent is not None:
                    parent.remove(node)


def _optional(text: str | None) -> str | None:
    return None if text is None else xml_safe(text)


def _parameters_model(job: JobRecord) -> _Parameters:
    return _Parameters(
        parameter=[
            Parameter(id=xml_safe(name), value=xml_safe(value)) for name, value in job.parameters
        ]
    )


def _results_model(job: JobRecord, result_url: ResultUrl) -> Results:
    return Results(
        results=[
            ResultReference(
                id=r.id,
                href=r.href or result_url(job, r.id),
                size=r.size,
                mime_type=r.mime_type,
            )
            for r in job.results
        ]
    )


def _job_info(
    job: JobRecord, extra: Sequence[InfoEntry], comments: Sequence[Comment]
) -> etree._Element:
    info = etree.Element(f"{{{UWS_NS}}}jobInfo", nsmap={"ji": JOBINFO_NS})
    kind = etree.SubElement(info, f"{{{JOBINFO_NS}}}kind")
    kind.text = xml_safe(job.kind)
    if job.progress is not None:
        progress = etree.SubElement(info, f"{{{JOBINFO_NS}}}progress")
        progress.set("done", repr(job.progress.done))
        progress.set("total", repr(job.progress.total))
        if job.progress.total > 0:
            progress.set("fraction", f"{job.progress.done / job.progress.total:.4f}")
        if job.progress.note:
            progress.text = xml_safe(job.progress.note)
    for name, attributes in extra:
        entry = etree.SubElement(info, f"{{{JOBINFO_NS}}}{name}")
        for key, value in attributes.items():
            entry.set(key, xml_safe(value))
    for comment in comments:
        node = etree.SubElement(info, f"{{{JOBINFO_NS}}}comment")
        node.set("author", xml_safe(comment.author or ""))
        node.set("time", comment.time.isoformat(timespec="seconds").replace("+00:00", "Z"))
        node.text = xml_safe(comment.text)
    return info


def render_job(
    job: JobRecord,
    result_url: ResultUrl,
    info: Sequence[InfoEntry] = (),
    comments: Sequence[Comment] = (),
) -> bytes:
    """The job document (``GET /{jobs}/{job-id}``); ``info`` adds the kind's own ``jobInfo``
    entries (:attr:`uws.JobKind.describe`), ``comments`` the job's comments (as text)."""
    error = None
    if job.error is not None:
        error = ErrorSummary(
            message=xml_safe(job.error.message),
            type=ErrorType(job.error.error_type),
            has_detail=True,
        )
    model = _JobModel(
        job_id=job.id,
        run_id=_optional(job.run_id),
        owner_id=_optional(job.owner),
        phase=job.phase,
        quote=job.quote,
        creation_time=job.creation_time,
        start_time=job.start_time,
        end_time=job.end_time,
        execution_duration=job.execution_duration,
        destruction=job.destruction,
        parameters=_parameters_model(job),
        results=_results_model(job, result_url),
        error_summary=error,
        job_info=[],
        version=UWSVersion.V1_1,
    )
    tree = model.to_xml_tree(skip_empty=False)
    if job.run_id is None:
        _drop_empty(tree, ["runId"])
    for stale in tree.findall(f"{{{UWS_NS}}}jobInfo"):
        tree.remove(stale)
    tree.append(_job_info(job, info, comments))
    return _serialise(tree)


def render_job_list(jobs: Sequence[JobSummaryRef], job_url: Callable[[str], str]) -> bytes:
    """The job list (``GET /{jobs}``)."""
    model = Jobs(
        jobref=[
            ShortJobDescription(
                phase=ref.phase,
                run_id=_optional(ref.run_id),
                owner_id=_optional(ref.owner),
                creation_time=ref.creation_time,
                job_id=ref.id,
                href=job_url(ref.id),
            )
            for ref in jobs
        ],
        version=UWSVersion.V1_1,
    )
    tree = model.to_xml_tree(skip_empty=False)
    for ref, node in zip(jobs, tree, strict=True):
        if ref.run_id is None:
            _drop_empty(node, ["runId"])
    return _serialise(tree)


def render_parameters(job: JobRecord) -> bytes:
    """``GET /{jobs}/{job-id}/parameters``."""
    return _serialise(_parameters_model(job).to_xml_tree(skip_empty=False))


def render_results(job: JobRecord, result_url: ResultUrl) -> bytes:
    """``GET /{jobs}/{job-id}/results``."""
    return _serialise(_results_model(job, result_url).to_xml_tree(skip_empty=True))


def render_error_votable(message: str) -> bytes:
    """A DALI error document: a VOTable whose results resource says QUERY_STATUS=ERROR."""
    votable = etree.Element(f"{{{VOTABLE_NS}}}VOTABLE", nsmap={None: VOTABLE_NS}, version="1.3")
    resource = etree.SubElement(votable, f"{{{VOTABLE_NS}}}RESOURCE", type="results")
    info = etree.SubElement(resource, f"{{{VOTABLE_NS}}}INFO", name="QUERY_STATUS", value="ERROR")
    info.text = xml_safe(message)
    return _serialise(votable)
