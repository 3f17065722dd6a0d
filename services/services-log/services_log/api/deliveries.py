"""Deliveries: log one, import a station's spreadsheet, correct or void (R-LOG-1 … R-LOG-6)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as FormFile

from services_log.api.common import (
    CountyCode,
    DeliveryProviderSide,
    DeliveryReader,
    ProviderSide,
    Reader,
    Service,
    Strict,
    Uploads,
    acting_provider,
    acting_worker,
    check_own_delivery,
)
from services_log.commands import CorrectDelivery, ImportDeliveries, LogDelivery, VoidDelivery
from services_log.composition import ServicesLog
from services_log.domainmodel import KINDS, SERVICE_AREAS, ServiceDelivery
from services_log.reads import DeliveryOf, delivery_view
from services_log.sheets import (
    MAX_ROWS,
    XLSX,
    UnreadableFile,
    columns_markdown,
    csv_template,
    xlsx_template,
)
from shared.bounds import Day as BoundedDay
from shared.infra.auth import CountyScope
from shared.infra.problems import PROBLEM, Problem
from shared.infra.service import CommandHeaders

router = APIRouter(prefix="/v1/counties/{county}", tags=["deliveries"])

Id = Annotated[str, Field(min_length=1, max_length=64)]
Hours = Annotated[Decimal, Field(ge=0, le=24, decimal_places=2, description="Hours each named worker spent")]
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


class DeliveryIn(Strict):
    contract_id: Id
    station_id: Id
    worker_ids: list[Id] = Field(max_length=20, description="Workers who delivered it, employed at the station that day")
    kind: str = Field(max_length=30, description=f"R-LOG-1: {', '.join(KINDS)} (走访 = 探访)")
    area: str = Field(max_length=30, description=f"R-LOG-2, within the contract's scope: {', '.join(SERVICE_AREAS)}")
    date: BoundedDay
    hours_direct: Hours
    hours_other: Hours = Decimal(0)
    person_times: int = Field(ge=0, le=1_000_000, description="人次 served")
    indicator_code: str | None = Field(default=None, max_length=50, description="The contract indicator it counts towards")
    indicator_quantity: int | None = Field(
        default=None, ge=0, le=1_000_000,
        description="How much of its indicator's unit this delivery completes (指标完成量), for an indicator counted by "
        "deliveries (场, 期, 次 …): e.g. 0 for a session of a 期 still running, 1 for the one that completes it, 2 for "
        "two 场 in one record. Given, it counts instead of one (the indicator then shows `counting: stated`); refused "
        "(R-LOG-8) without an indicator or for a 人次 or hours indicator",
    )
    beneficiary_refs: list[Id] = Field(default_factory=list, max_length=200, description="Pseudonymous refs (R-LOG-5)")
    content: str | None = Field(default=None, max_length=4000, description="What was done; confidential for 个案 and 小组")


class DeliveryCreated(BaseModel):
    delivery_id: str


class CorrectionIn(Strict):
    reason: str = Field(min_length=1, max_length=500)
    station_id: Id | None = None
    worker_ids: list[Id] | None = Field(default=None, max_length=20)
    kind: str | None = Field(default=None, max_length=30)
    area: str | None = Field(default=None, max_length=30)
    date: BoundedDay | None = None
    hours_direct: Hours | None = None
    hours_other: Hours | None = None
    person_times: int | None = Field(default=None, ge=0, le=1_000_000)
    indicator_code: str | None = Field(default=None, max_length=50, description="null clears it")
    indicator_quantity: int | None = Field(default=None, ge=0, le=1_000_000, description="null clears it (then it counts one)")
    beneficiary_refs: list[Id] | None = Field(default=None, max_length=200)
    content: str | None = Field(default=None, max_length=4000, description="null clears it")


class VoidingIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class DeliveryOut(BaseModel):
    delivery_id: str
    contract_id: str
    station_id: str
    worker_ids: list[str]
    kind: str
    area: str
    date: dt.date
    hours_direct: Decimal
    hours_other: Decimal
    person_times: int
    indicator_code: str | None
    indicator_quantity: int | None = Field(description="The quantity of its indicator's unit it states it completes, if any")
    beneficiary_refs: list[str]
    content: str | None
    content_withheld: bool = Field(description="True when the caller may not read this casework/group-work content (R-LOG-5)")
    content_erased: bool = Field(
        description="True when the content cited a beneficiary whose personal data has since been erased (R-AUD-2): it is gone"
    )
    status: str = Field(description="recorded, corrected or voided")
    version: int
    source: str
    history: list[dict[str, str]]

    @classmethod
    def of(cls, d: ServiceDelivery, scope: CountyScope, service: ServicesLog) -> DeliveryOut:
        """A command's answer: the delivery as the caller may read it (``services_log.reads``)."""
        return cls(**delivery_view(service.lookups, d, scope.principal.role))


class ImportError_(BaseModel):
    line: int = Field(description="Line (row number) in the file; the header is line 1")
    field: str | None
    column: str | None = Field(description="The Chinese header of the column")
    rule: str | None = Field(
        description="The rule that refused the row (R-…). A value that could not be read, or names no known record, cites "
        "the rule of its column: R-LOG-1 kind, R-LOG-2 area, R-LOG-5 beneficiary refs, R-LOG-8 indicator, R-LOG-3 the rest "
        "(contract, station, workers, date, hours, person-times)"
    )
    detail: str
    facts: dict[str, Any] | None = Field(
        default=None, description="The figures behind the refusal, as a refusal's `facts` (a `code` naming it, and its values)"
    )


class ContractCount(BaseModel):
    contract_id: str
    recorded: int


class ImportReportOut(BaseModel):
    rows: int
    recorded: int
    duplicates: int = Field(description="Rows already recorded by an earlier upload: not recorded again")
    refused: int
    errors: list[ImportError_]
    contracts: list[ContractCount]


@router.post("/deliveries", status_code=201, response_model=DeliveryCreated)
def log_delivery(county: CountyCode, body: DeliveryIn, scope: ProviderSide, service: Service, headers: CommandHeaders) -> DeliveryCreated:
    """Log a delivery. Refused (422 with the rule, recording nothing) when the kind is not one of
    R-LOG-1, the area is not in the contract's scope on that date (R-LOG-2, R-REG-6), the date is
    outside the contract year or the station not the contract's (R-LOG-3), a worker was not employed
    by the contracted provider at that station on that date (R-LOG-3, R-REG-8) or would exceed the
    daily hours cap (R-LOG-4, default 12 h). Publishes `ServiceDelivered` and `IndicatorProgressed`
    (neither carries the content).

    Content that cites beneficiaries (`beneficiary_refs`) is stored only sealed under all of their
    keys (R-LOG-5, R-AUD-2): erasing any one of them erases it, and reads then show `content: null`,
    `content_erased: true`; citing an erased beneficiary with content is refused (422, R-AUD-2).
    Content citing no one is stored as it is given. This applies to content recorded from now on:
    content stored earlier is not migrated. A worker's token records only deliveries that name
    its `worker_id` among `worker_ids` (else 403, R-AUD-6)."""
    provider = acting_provider(scope)
    check_own_delivery(scope, body.worker_ids)
    command = LogDelivery(
        county=county, **body.model_dump(exclude={"worker_ids", "beneficiary_refs"}), worker_ids=tuple(body.worker_ids),
        beneficiary_refs=tuple(body.beneficiary_refs), provider_id=provider,
        content_digest=service.lookups.content_digest(body.beneficiary_refs, body.content),
    )
    delivery = service.bus.run(command, scope, headers)
    return DeliveryCreated(delivery_id=str(delivery.id))


IMPORT_DESCRIPTION = f"""Import a station's delivery sheet (服务记录台账): CSV (UTF-8 or GB18030) or XLSX (the sheet
named 服务记录, else the first), with a header row of English keys or Chinese headers (units in
brackets and title lines above the header are ignored; so are unknown columns). Every row is
checked like a single delivery; the report lists each bad row with its line, field and rule.
Good rows are recorded once: a row's delivery id comes from its content, so uploading the same
file again records nothing new. Reading the file has a time limit (`SWP_IMPORT_SECONDS`, 20 s by
default: past it 422, rule `import-time-limit`, nothing recorded) and at most
`SWP_IMPORT_CONCURRENCY` uploads (default 2) are read at once (another is 503, rule
`import-concurrency-limit`, with `Retry-After`). Up to {MAX_ROWS:,} rows per file, saved in batches; one
`IndicatorProgressed` per contract at the end. Template: `GET …/deliveries/import/template`.
The file goes as the multipart part `file`; a form's only file under another name, or the request
body itself sent as `text/csv` or XLSX, is read the same way.
A row's content that cites beneficiaries is sealed for them as in `POST …/deliveries` (R-LOG-5,
R-AUD-2); once one of them is erased, a row citing them with content is refused (R-AUD-2), even
if it was recorded before. Content citing no one is stored as given. With a worker's token, a row
not naming the token's `worker_id` among its workers is refused (rule R-AUD-6).

{columns_markdown()}
"""


@dataclass(frozen=True)
class Sheet:
    """An uploaded delivery sheet: its name (may be empty), its declared type and its bytes."""

    filename: str
    content_type: str | None
    data: bytes


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


async def uploaded_sheet(
    request: Request,
    file: Annotated[UploadFile | None, File(description="CSV (UTF-8 or GB18030) or XLSX with the template's columns")] = None,
) -> Sheet:
    """The sheet of an import: the multipart part `file` (documented), else a multipart form's only
    file under another name, else the request body itself sent as CSV or XLSX (any type but a form
    or JSON). Nothing to read is 422 naming `file`; more than 16 MB too."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    upload: FormFile | None = file
    if upload is None and content_type in FORMS:
        uploads = [v for v in (await request.form()).values() if isinstance(v, FormFile)]
        upload = uploads[0] if len(uploads) == 1 else None
    if upload is not None:
        sheet = Sheet(upload.filename or "", upload.content_type, await upload.read(MAX_UPLOAD_BYTES + 1))
    elif content_type not in (*FORMS, "application/json"):
        sheet = Sheet("", content_type or None, await request.body())
    else:
        raise UnreadableFile("no sheet: send the CSV or XLSX file as the multipart part `file` (or as the body)", field="file")
    if not sheet.data:
        raise UnreadableFile("the uploaded sheet is empty", field="file")
    if len(sheet.data) > MAX_UPLOAD_BYTES:
        raise UnreadableFile(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it", field="file")
    return sheet


@router.post(
    "/deliveries/import",
    response_model=ImportReportOut,
    description=IMPORT_DESCRIPTION,
    responses={
        200: {"description": "The per-row report"},
        503: {"model": Problem, "content": {PROBLEM: {}}, "headers": {"Retry-After": {"schema": {"type": "integer"}}},
              "description": "SWP_IMPORT_CONCURRENCY uploads are being read already (rule import-concurrency-limit): retry after "
                             "`Retry-After` seconds"},
    },
)
def import_deliveries(
    county: CountyCode,
    scope: ProviderSide,
    service: Service,
    uploads: Uploads,
    headers: CommandHeaders,
    sheet: Annotated[Sheet, Depends(uploaded_sheet)],
    contract_id: Annotated[str | None, Query(max_length=64, description="Contract of rows without a 协议编号")] = None,
) -> ImportReportOut:
    data = sheet.data
    rows = uploads.parse(sheet.filename, sheet.content_type, data)
    provider = acting_provider(scope)
    source = f"import:{(sheet.filename or 'upload')[:100]}"

    # Repeating the upload is safe by design (idempotent per row), with or without Idempotency-Key.
    # Keyed: an unkeyed hash of a CSV could be checked against a guess at a row's content (R-AUD-2).
    command = ImportDeliveries(
        county=county, file_hmac=service.lookups.personal_data_hmac({"sha256": hashlib.sha256(data).hexdigest()}),
        contract_id=contract_id, rows=rows, source=source, provider_id=provider, worker_id=acting_worker(scope),
    )
    report = service.bus.run(command, scope, headers)
    return ImportReportOut(
        rows=report.rows, recorded=report.recorded, duplicates=report.duplicates, refused=report.refused,
        errors=[ImportError_(**e) for e in report.errors],
        contracts=[ContractCount(contract_id=c, recorded=n) for c, n in report.contracts.items()],
    )


@router.get(
    "/deliveries/import/template",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def import_template(
    county: CountyCode, scope: Reader, format: Annotated[Literal["csv", "xlsx"], Query()] = "xlsx"
) -> Response:
    """The import template: the header row (Chinese headers), and in the XLSX a sheet 填写说明
    documenting each column and the allowed kinds (R-LOG-1) and areas (R-LOG-2)."""
    if format == "csv":
        return Response(csv_template(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="deliveries-template.csv"'})
    return Response(xlsx_template(), media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="deliveries-template.xlsx"'})


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(county: CountyCode, delivery_id: str, scope: DeliveryReader, service: Service) -> DeliveryOut:
    """A delivery as currently recorded, with its correction history. Casework (个案) and group-work
    (小组) content is withheld from evaluators, finance and auditors (R-LOG-5)."""
    return DeliveryOut(**service.reads.ask(DeliveryOf(county=county, delivery_id=delivery_id), scope))


@router.post("/deliveries/{delivery_id}/corrections", response_model=DeliveryOut)
def correct_delivery(
    county: CountyCode, delivery_id: str, body: CorrectionIn, scope: DeliveryProviderSide, service: Service, headers: CommandHeaders
) -> DeliveryOut:
    """Correct a delivery (R-LOG-6): give the reason and only the fields that change. The corrected
    delivery is checked like a new one; history is kept and totals follow. Publishes
    `DeliveryCorrected` and `IndicatorProgressed`. New content, or new refs, are sealed for the
    beneficiaries the corrected delivery cites, as when logging one. A worker's token corrects only
    its own deliveries (another's is 404) and cannot take itself out of `worker_ids` (403, R-AUD-6)."""
    provider = acting_provider(scope)
    check_own_delivery(scope, body.worker_ids)
    refs = body.beneficiary_refs if body.beneficiary_refs is not None else service.lookups.delivery(county, delivery_id).facts.beneficiary_refs
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    command = CorrectDelivery(
        county=county, delivery_id=delivery_id, reason=body.reason, changes=changes, provider_id=provider,
        content_digest=service.lookups.content_digest(refs, changes.get("content")),
    )
    delivery = service.bus.run(command, scope, headers)
    return DeliveryOut.of(delivery, scope, service)


@router.post("/deliveries/{delivery_id}/voiding", response_model=DeliveryOut)
def void_delivery(
    county: CountyCode, delivery_id: str, body: VoidingIn, scope: DeliveryProviderSide, service: Service, headers: CommandHeaders
) -> DeliveryOut:
    """Void a delivery (R-LOG-6) with the reason: it no longer counts; its history stays.
    Publishes `DeliveryVoided` and `IndicatorProgressed`."""
    provider = acting_provider(scope)
    command = VoidDelivery(county=county, delivery_id=delivery_id, reason=body.reason, provider_id=provider)
    delivery = service.bus.run(command, scope, headers)
    return DeliveryOut.of(delivery, scope, service)
