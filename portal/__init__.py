"""The customer's side of KnownFix, served without a staff sign-in (HTML pages under
/portal beside the HTTP API): the request page (在线提交工单) with self-service answers,
the case status page, and the pages a customer answers by link (客户确认, 满意度调查,
回访).  Pages are plain server-made HTML that works without JavaScript; every text comes
from the catalogue (ui/i18n.py) in the customer's language."""
