"""Projects and procurement (立项 → 采购 → 授标), inside the registry service.

Programmes (专项/试点项目) split a province or city budget across counties; a county's units
apply for projects (立项申请) that pass a decision chain; an approved project is procured,
bids are checked for validity (无效投标), the award is scored by the published criteria and
drafts the contract that the registry then signs.

Rules (proposed for DOMAIN.md; cited by every refusal of this package):
- R-PRJ-1 Programme budget: allocations to counties sum exactly to the budget (over-allocation
  refused); each county once; milestones (mobilisation → bidding → service → evaluation) in order.
- R-PRJ-2 Project application (立项申请): applicant unit, year k of an n-year project, positive
  budget, justification with resident consultation, target groups and their numbers, and needs.
- R-PRJ-3 A project under a programme fits the county's remaining allocation and pilot-area count.
- R-PRJ-4 Decision chain: community committee resolution (社区两委会决议) → street review
  (街道审核) → district civil-affairs approval (区民政局审批), in order, starting at the
  applicant's level; a rejection gives its reason and ends the application.
- R-PRC-1 Procurement of an approved project: one of the six methods; 单一来源采购 needs a recorded
  justification and one named provider, 邀请招标 at least three invited providers; requirements
  published (service items with minimum quantities, staffing, quality standards); evaluation
  criteria weights sum to 100 with price at most 30 (服务类 价格分 10–30%, 不以价低者得).
- R-PRC-2 Bid validity (无效投标): before the deadline; whole package only; annual price ≤ the
  package's annual budget; planned quantities ≥ the minimums; staffing at least the requirement.
  (Eligibility is R-REG-1, the hours window R-LOG-4, extra professionals R-FIN-10.)
- R-PRC-3 Award: every valid bid scored on every criterion; the highest weighted total wins
  (price scored 基准价/报价); the award drafts the contract.
"""
