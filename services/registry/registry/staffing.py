"""Commands and queries on stations and social workers (R-REG-2, R-REG-3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from registry.base import RegistryBase
from registry.domainmodel import Station, Worker, certificate_due, check_hiring, check_station_kind


@dataclass(frozen=True)
class CertificateStatus:
    """R-REG-3: a worker still owing a certificate, and how the deadline stands on ``as_of``."""

    worker: Worker
    due_on: date
    days_left: int
    overdue: bool


class StaffingCommands(RegistryBase):
    def establish_station(self, county: str, name: str, township: str, kind: str) -> uuid.UUID:
        self.county(county)
        check_station_kind(kind)
        station = Station(county=county, name=name, township=township, kind=kind)
        self.save(station)
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
        policy = self.county(county).policy
        self.provider(county, provider_id, field="provider_id")
        self.station(county, station_id, field="station_id")
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
        self.save(worker)
        return worker.id

    def move_worker(self, county: str, worker_id: str, to_station_id: str, moved_on: date) -> Worker:
        worker = self.worker(county, worker_id)
        self.station(county, to_station_id, field="to_station_id")
        worker.move_to(to_station_id, moved_on)
        self.save(worker)
        return worker

    def qualify_worker(self, county: str, worker_id: str, qualification: str, qualified_on: date) -> Worker:
        worker = self.worker(county, worker_id)
        worker.qualify(qualification, qualified_on)
        self.save(worker)
        return worker

    def worker_leaves(self, county: str, worker_id: str, left_on: date, reason: str) -> Worker:
        worker = self.worker(county, worker_id)
        worker.leave(left_on, reason)
        self.save(worker)
        return worker

    def certificates_due(
        self, county: str, as_of: date, within_days: int, provider_id: str | None = None
    ) -> list[CertificateStatus]:
        """R-REG-3: workers employed on ``as_of`` whose certificate deadline has passed or falls
        within ``within_days``, soonest first."""
        horizon = as_of + timedelta(days=within_days)
        due = [
            CertificateStatus(w, w.certificate_due_on, (w.certificate_due_on - as_of).days, w.certificate_overdue(as_of))
            for w in self.workers(county, provider_id)
            if w.certificate_due_on is not None and w.certificate_due_on <= horizon and w.employed_on(as_of)
        ]
        return sorted(due, key=lambda s: s.due_on)
