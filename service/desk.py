"""Desk: the one object the app and the CLI hold — every service, wired together."""

from __future__ import annotations

from service.auth import Users
from service.cases import Cases
from service.engine import Engine
from service.knowledge import Knowledge
from service.reports import Reports
from settings import Settings


class Desk:
    """Users, cases, knowledge and reports over one Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.users = Users(engine.kb)
        self.cases = Cases(engine)
        self.knowledge = Knowledge(engine)
        self.reports = Reports(engine)
        self.cases.on_close.append(self.knowledge.draft_from_case)

    @classmethod
    def open(cls, settings: Settings) -> Desk:
        return cls(Engine(settings))

    def close(self) -> None:
        self.engine.close()
