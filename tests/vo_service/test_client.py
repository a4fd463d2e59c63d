"""The package's Python client (``vo_service.client``) against a real ``vo-service serve``.

What a notebook user relies on: a product in three lines, downloaded once; jobs with progress
and abort; every mistake an exception naming the parameter, most of them found before anything
is sent, from the service's own description of its parameters; DataLink and SODA cut-outs.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from astropy import units as u
from astropy.io import fits
from astropy.time import Time
from lxml import etree

from vo_service._request import PARAMETERS, parse_request
from vo_service.client import (
    Client,
    ClientError,
    JobAborted,
    NoOverlap,
    ParameterError,
    Product,
    ProductNotFound,
    Progress,
    ServiceError,
)

ROOT = Path(__file__).resolve().parents[2]
JI = "{urn:x-uws:jobinfo:v1}"
CRAB = (83.63308, 22.0145)


class RecordingSession(requests.Session):
    """A session that notes every request it sends (method, URL without the query)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []
        self.created: list[str] = []  # jobs created (the Location of each 303 to a POST)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        response = super().request(method, url, *args, **kwargs)
        self.sent.append((str(method).upper(), str(response.request.url).split("?")[0]))
        if self.sent[-1][0] == "POST" and response.status_code == 303:
            self.created.append(response.headers["Location"])
        return response

    def posts(self) -> list[str]:
        return [url for method, url in self.sent if method == "POST"]


def test_importing_the_client_loads_no_part_of_the_service() -> None:
    probe = "import json, sys\nimport vo_service.client\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    modules = json.loads(done.stdout)
    server_side = {"flask", "sqlalchemy", "alembic", "dask", "distributed", "gunicorn"}
    server_side |= {"processing", "uws", "datalink", "registry", "pydantic_settings"}
    loaded = [m for m in modules if m.split(".")[0] in server_side]
    assert loaded == []
    ours = [m for m in modules if m.startswith("vo_service")]
    assert all(
        m in ("vo_service", "vo_service._version") or m.startswith("vo_service.client")
        for m in ours
    ), ours
    assert "pyvo.io.uws" in modules  # the client reads UWS with pyvo, not a parser of its own


def test_a_spectrum_in_three_lines(live_service: str, tmp_path: Path) -> None:
    spectrum = Client(live_service, download_dir=tmp_path).get_product(
        "spectrum", src_name="Crab", radius=20
    )
    files = spectrum.files

    # Downloaded into <download_dir>/<hash>/, primary first, byte for byte what is served.
    product_hash = spectrum.product_id.split("?")[1]
    assert spectrum.product_id.startswith("ivo://")
    assert [p.name for p in files[:3]] == ["Crab.pha", "Crab.rmf", "Crab.arf"]
    assert all(p.parent == tmp_path / product_hash and p.is_file() for p in files)
    for path in files[:3]:
        served = requests.get(spectrum.urls[path.name], timeout=30).content
        assert path.read_bytes() == served

    # The product the job names in its jobInfo, as astropy objects.
    assert spectrum.job_url is not None
    job_document = etree.fromstring(requests.get(spectrum.job_url, timeout=30).content)
    named = [p.get("id") for p in job_document.iter(f"{JI}product")]
    assert named[0] == spectrum.product_id
    with spectrum.fits() as hdus:
        assert hdus["SPECTRUM"].header["OBJECT"] == "Crab"
        channels = len(hdus["SPECTRUM"].data)
    table = spectrum.table("Crab_spectrum.vot")
    assert len(table) == channels and {"channel", "product_id"} <= set(table.colnames)

    # Its DataLink: the client's primary file is the links' first #this.
    links = spectrum.links()
    this = [str(r["access_url"]) for r in links if r["semantics"] == "#this"]
    assert this[0] == spectrum.urls["Crab.pha"]
    progenitors = [r for r in links if r["semantics"] == "#progenitor"]
    assert progenitors and not set(spectrum.urls.values()) & {
        str(r["access_url"]) for r in progenitors
    }


def test_downloaded_files_are_not_fetched_again(live_service: str, tmp_path: Path) -> None:
    session = RecordingSession()
    client = Client(live_service, download_dir=tmp_path, session=session)
    first = client.get_product("spectrum", src_name="Crab", radius=20)
    fetched = [url for method, url in session.sent if "/products/" in url]
    assert len(fetched) == len(first.entries)

    session.sent.clear()
    again = client.product(first.product_id)
    assert again.files == first.files
    assert [url for _, url in session.sent if "/products/" in url] == []
    # A single file on demand, to the same place.
    assert again.file("*.rmf") == tmp_path / first.folder.name / "Crab.rmf"


def test_async_job_reports_progress(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    # A time bin no other test asks for, so that the job computes.
    job = client.submit("light_curve", src_name="Crab", radius=20, time_bin=450)
    reports: list[Progress] = []
    assert job.wait(timeout=600, progress=reports.append) is job

    assert reports[-1].phase == "COMPLETED" == job.phase
    assert reports[-1].total and reports[-1].done == reports[-1].total
    assert reports[-1].fraction == 1.0
    assert all(a != b for a, b in itertools.pairwise(reports))
    assert {r.phase for r in reports} <= {"QUEUED", "EXECUTING", "COMPLETED"}
    assert job.parameters["time_bin"] == "450"
    assert next(iter(job.results)).endswith(".lc") and "links" in job.results

    light_curve = job.product()
    assert light_curve.names[0] == "Crab_20-40keV.lc"
    table = light_curve.table()
    assert {"time", "rate", "rate_error"} <= set(table.colnames)
    assert light_curve.entries[0].content_type == "application/fits"
    assert client.job(job.job_id).product().product_id == light_curve.product_id


def test_abort_a_pending_job(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    job = client.submit("image", src_name="Crab", radius=20, run=False)
    assert job.phase == "PENDING"
    with pytest.raises(ClientError, match="PENDING"):
        job.wait(timeout=5)
    job.abort()
    assert job.phase == "ABORTED"
    assert requests.get(f"{job.url}/phase", timeout=30).text == "ABORTED"
    with pytest.raises(JobAborted) as aborted:
        job.product()
    assert aborted.value.job_url == job.url


def test_interrupting_get_product_aborts_its_job(live_service: str, tmp_path: Path) -> None:
    session = RecordingSession()
    client = Client(live_service, download_dir=tmp_path, session=session)
    seen: list[Progress] = []

    def interrupt(progress: Progress) -> None:
        seen.append(progress)
        raise KeyboardInterrupt

    # A band no other test asks for: the job has per-ScW imaging to do.
    with pytest.raises(KeyboardInterrupt):
        client.get_product(
            "image", src_name="Crab", radius=20, E1_keV=23, E2_keV=57, progress=interrupt
        )
    (created,) = session.posts()[:1]
    assert created.endswith("/async")
    job_url = session.created[0]
    assert len(seen) == 1 and seen[0].phase in {"QUEUED", "EXECUTING"}
    assert ("POST", f"{job_url}/phase") in session.sent
    assert requests.get(f"{job_url}/phase", timeout=30).text == "ABORTED"


def test_a_400_becomes_an_exception_naming_the_parameter(live_service: str) -> None:
    unchecked = Client(live_service, check_locally=False)
    with pytest.raises(ParameterError) as refused:
        unchecked.submit("spectrum", src_name="Crab", radius=200)
    assert refused.value.param == "radius"
    assert "maximum" in refused.value.message

    # Rules joining parameters are the service's, with local checking on as well.
    with pytest.raises(ParameterError) as refused:
        Client(live_service).submit("spectrum", src_name="Crab", RA=10)
    assert refused.value.param == "DEC"
    assert "together" in refused.value.message

    with pytest.raises(ParameterError) as refused:
        Client(live_service).fetch("image", src_name="Crab", E1_keV=50, E2_keV=30)
    assert refused.value.param == "E2_keV"

    with pytest.raises(ServiceError) as missing:
        Client(live_service).job("no-such-job")
    assert missing.value.status == 404


def test_parameters_come_from_the_services_description(live_service: str) -> None:
    client = Client(live_service)
    assert list(client.product_types()) == [
        "image",
        "spectrum",
        "light_curve",
        "transient_search",
        "spectral_fit",
    ]
    for product_type in client.product_types():
        described = client.parameters(product_type)
        declared = [p for p in PARAMETERS if p.applies_to(product_type)]
        assert list(described) == [p.name for p in declared if p.name != "product_type"]
        for spec in declared[1:]:
            param = described[spec.name]
            assert (param.unit, param.ucd, param.datatype) == (spec.unit, spec.ucd, spec.datatype)
            assert param.minimum == spec.minimum and param.maximum == spec.maximum
            assert param.maximum_inclusive is not spec.maximum_exclusive
            assert param.options == spec.choices
            if spec.default is None:
                assert param.default is None
            elif spec.datatype == "char":
                assert param.default == spec.default
            else:
                assert float(param.default or "nan") == float(spec.default)
    assert "E1_keV" not in client.parameters("spectrum")
    assert str(client.parameters("image")["radius"]).startswith("radius [deg] = 15")


@pytest.mark.parametrize(
    ("product_type", "params", "param", "reason"),
    [
        ("spectrum", {"radius": 200}, "radius", "above the maximum 30 deg"),
        ("image", {"radius": 0.01}, "radius", "below the minimum"),
        ("image", {"RA": 360}, "RA", "maximum"),
        ("image", {"radius": 1 * u.s}, "radius", "cannot be converted to deg"),
        ("image", {"max_pointings": 2.5}, "max_pointings", "not an integer"),
        ("image", {"detection_threshold": "high"}, "detection_threshold", "not a number"),
        ("image", {"E1_keV": float("nan")}, "E1_keV", "not a finite number"),
        ("image", {"T_format": "julian"}, "T_format", "not one of isot, mjd, ijd"),
        ("image", {"radius": True}, "radius", "truth value"),
        ("spectrum", {"E1_keV": 30}, "E1_keV", "not a parameter of spectrum requests"),
        ("image", {"colour": "blue"}, "colour", "not a parameter of image requests"),
        ("image", {"radius": 5, "RADIUS": 6}, "RADIUS", "given twice"),
        ("image", {"phase": "RUN"}, "phase", "not a parameter"),
        ("hologram", {}, "product_type", "not one of image, spectrum"),
    ],
)
def test_mistakes_are_found_before_anything_is_sent(
    live_service: str,
    product_type: str,
    params: dict[str, Any],
    param: str,
    reason: str,
) -> None:
    session = RecordingSession()
    client = Client(live_service, session=session)
    with pytest.raises(ParameterError) as refused:
        client.submit(product_type, src_name="Crab", **params)
    assert refused.value.param == param
    assert reason in refused.value.message
    assert session.posts() == []
    assert [url for _, url in session.sent] == [f"{live_service}/async/params"]


def test_python_values_become_what_the_service_expects(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    sent = client.validate(
        "image",
        src_name="Crab",
        ra=None,  # left out
        radius=600 * u.arcmin,
        e1_kev=25,  # any case; sent as the service spells it
        E2_keV=0.06 * u.MeV,
        T1=Time("2004-03-01T00:00:00", scale="utc"),
        T2=Time(53066.0, format="mjd", scale="tt"),
        T_format="MJD",
        scw_list=["016700010010", "016700020010"],
        max_pointings=10,
    )
    assert sent["product_type"] == "image" and "RA" not in sent
    assert {"E1_keV", "E2_keV"} <= set(sent) and "e1_kev" not in sent
    assert sent["T_format"] == "mjd"
    request = parse_request(sent.items())  # what the service makes of it
    assert request.radius_deg == pytest.approx(10.0)
    assert (request.e1_kev, request.e2_kev) == (25.0, pytest.approx(60.0))
    # 2004-03-01 UTC is MJD 53065 + 64.184 s in TT; IJD = MJD - 51544.
    assert request.t1_ijd == pytest.approx(53065.0 + 64.184 / 86400 - 51544.0, abs=1e-9)
    assert request.t2_ijd == pytest.approx(53066.0 - 51544.0)
    assert request.scw_list == ("016700010010.001", "016700020010.001")

    sky_model = [{"name": "Crab", "ra": CRAB[0], "dec": CRAB[1]}]
    sent = client.validate("spectrum", src_name="Crab", selected_catalog=sky_model)
    assert json.loads(sent["selected_catalog"]) == sky_model


def test_a_catalog_product_as_sky_model(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    image = client.get_product("image", src_name="Crab", radius=20, download=False)
    assert not image.folder.exists()  # nothing downloaded until asked for
    spectrum = client.get_product(
        "spectrum", src_name="Crab", radius=20, selected_catalog=image, download=False
    )
    job_parameters = client.job(str(spectrum.job_url)).parameters
    assert job_parameters["selected_catalog"] == image.product_id
    assert spectrum.names[0] == "Crab.pha"


def test_cutout_of_an_image_by_product_id(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    image = client.get_product("image", src_name="Crab", radius=20, download=False)
    path = client.cutout(image.product_id, CRAB[0] * u.deg, CRAB[1], 2 * u.deg)
    assert path.parent == image.folder
    with fits.open(path) as cut, fits.open(image.file("image.fits")) as whole:
        names = [h.name for h in cut if h.is_image and h.data is not None]
        assert names == ["INTENSITY", "VARIANCE", "SIGNIFICANCE", "EXPOSURE"]
        assert cut["SIGNIFICANCE"].data.size < whole["SIGNIFICANCE"].data.size / 20
    assert "#cutout" in {str(r["semantics"]) for r in image.links()}

    with pytest.raises(NoOverlap):
        image.cutout(CRAB[0] + 180, -CRAB[1], 1)
    with pytest.raises(ParameterError) as refused:
        image.cutout(CRAB[0], 95, 1)
    assert refused.value.param == "CIRCLE"
    spectrum = client.get_product("spectrum", src_name="Crab", radius=20, download=False)
    with pytest.raises(ClientError, match="no spatial cut-out"):
        spectrum.cutout(*CRAB, 1)
    unknown = f"{image.product_id.split('?')[0]}?{'0' * 64}"
    with pytest.raises(ProductNotFound):
        client.cutout(unknown, *CRAB, 1)


def test_fetch_goes_through_sync(live_service: str, tmp_path: Path) -> None:
    session = RecordingSession()
    client = Client(live_service, download_dir=tmp_path, session=session)
    path = client.fetch("spectrum", src_name="Crab", radius=20)
    assert ("GET", f"{live_service}/sync") in session.sent
    assert session.posts() == []
    spectrum = client.get_product("spectrum", src_name="Crab", radius=20, download=False)
    assert path == spectrum.folder / "Crab.pha"
    assert path.read_bytes() == requests.get(spectrum.urls["Crab.pha"], timeout=30).content


def test_product_by_id_and_unknown_ids(live_service: str, tmp_path: Path) -> None:
    client = Client(live_service, download_dir=tmp_path)
    image = client.get_product("image", src_name="Crab", radius=20, download=False)
    again = client.product(image.product_id)
    assert isinstance(again, Product) and again.entries == image.entries
    assert again.names[:2] == ["image.fits", "catalog.vot"]
    assert urlsplit(again.urls["image.fits"]).path.endswith(f"/{image.folder.name}/image.fits")
    with pytest.raises(ClientError, match="no file matching"):
        again.file("*.pha")
    with pytest.raises(ProductNotFound, match="NotFoundFault"):
        client.product(f"{image.product_id.split('?')[0]}?{'f' * 64}")
