"""Commands on stations and social workers (R-REG-2, R-REG-3); the certificates due are a lookup of
the store (:meth:`registry.base.RegistryApplication.certificates_due`)."""

from __future__ import annotations

import uuid
from datetime import date

from registry.base import CertificateStatus, RegistryApplication
from registry.domainmodel import Station, Worker, certificate_due, check_hiring, check_station_kind
from registry.domainmodel.policy import canonical_qualification
from registry.domainmodel.workforce import EDUCATION_ALIASES, ROLE_ALIASES, STATION_KIND_ALIASES, canonical

__all__ = ["CertificateStatus", "StaffingCommands"]


class StaffingCommands:
    """Stations and workers: establish, hire, move, qualify, leave."""

    def __init__(self, store: RegistryApplication) -> None:
        self.store = store

    def establish_station(self, county: str, name: str, township: str, kind: str) -> uuid.UUID:
        self.store.county(county)
        kind = canonical(kind, STATION_KIND_ALIASES)
        check_station_kind(kind)
        station = Station(county=county, name=name, township=township, kind=kind)
        self.store.save(station)
        return station.id

    def hire_worker(
        self,
        county: str,
        provider_id: str,
        station_id: str,
        name: str,
        birth_date: date,
        education: str,
        qualification: str,
        role: str,
        hired_on: date,
    ) -> uuid.UUID:
        """R-REG-3: age and education at hiring; without a certificate, its deadline starts now."""
        policy = self.store.county(county).policy
        qualification = canonical_qualification(qualification)
        education, role = canonical(education, EDUCATION_ALIASES), canonical(role, ROLE_ALIASES)
        self.store.provider(county, provider_id, field="provider_id")
        self.store.station(county, station_id, field="station_id")
        check_hiring(policy, birth_date, education, qualification, role, hired_on)
        worker = Worker(
            county=county,
            provider_id=provider_id,
            station_id=station_id,
            name=name,
            birth_date=birth_date,
            education=education,
            qualification=qualification,
            role=role,
            hired_on=hired_on,
            certificate_due_on=certificate_due(policy, qualification, hired_on),
        )
        self.store.save(worker)
        return worker.id

    def move_worker(self, county: str, worker_id: str, to_station_id: str, moved_on: date) -> Worker:
        worker = self.store.worker(county, worker_id)
        self.store.station(county, to_station_id, field="to_station_id")
        worker.move_to(to_station_id, moved_on)
        self.store.save(worker)
        return worker

    def qualify_worker(self, county: str, worker_id: str, qualification: str, qualified_on: date) -> Worker:
        worker = self.store.worker(county, worker_id)
        worker.qualify(canonical_qualification(qualification), qualified_on)
        self.store.save(worker)
        return worker

    def worker_leaves(self, county: str, worker_id: str, left_on: date, reason: str) -> Worker:
        worker = self.store.worker(county, worker_id)
        worker.leave(left_on, reason)
        self.store.save(worker)
        return worker
