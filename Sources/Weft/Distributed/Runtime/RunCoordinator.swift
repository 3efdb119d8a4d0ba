import Logging

/// Drives distributed runs through the backends, one step at a time, following design §4:
/// the composition of the parts that take those steps, each owning what it uses. Shared by the
/// client (start, cancel, inspection), the workers (jobs, timers) and the reconciler. Holds no
/// run state of its own: everything lives in the stores, so any process can take any step of
/// any run.
///
/// A job's path: ``JobHandler`` checks and reads it, ``AttemptRunner`` runs its node (or its
/// control node, through ``ControlNodes``), the handler writes the record, ``RunAdvancer``
/// routes it to the successors that became ready, and ``RunFinisher`` ends the run.
final class RunCoordinator: Sendable {
    /// What node attempts run with.
    typealias Execution = AttemptRunner.Execution

    let catalog: BlueprintCatalog
    let options: FleetOptions
    /// Limits progress writes to a few per stall timeout per run.
    let progress: ProgressThrottle
    /// The runs' records in the stores, and the run records this process has read.
    let ledger: RunLedger
    /// Ends runs and tells whoever waits for them.
    let finisher: RunFinisher
    let starter: RunStarter
    let control: ControlNodes
    let jobs: JobHandler
    let reconciler: RunReconciler
    let timers: TimerFirer
    let inspector: RunInspector
    /// The store's fleet and blueprint digests, checked before work (``StoreClaims``).
    let claims: StoreClaims

    init(
        backends: WeftBackends, catalog: BlueprintCatalog, options: FleetOptions, execution: Execution, logger: Logger,
        faults: (any FaultInjector)? = nil, timerScheduled: @escaping @Sendable (Duration) -> Void = { _ in }
    ) {
        self.catalog = catalog
        self.options = options
        let progress = ProgressThrottle(interval: options.stallTimeout / 4)
        self.progress = progress
        let ledger = RunLedger(
            records: backends.coordinationStore, contexts: backends.contextStore,
            freshness: min(options.retention.map { $0 / 2 } ?? .seconds(600), .seconds(600)))
        let finisher = RunFinisher(ledger: ledger, transport: backends.transport, retention: options.retention, logger: logger)
        let publisher = JobPublisher(transport: backends.transport, logger: logger)
        let starter = RunStarter(
            ledger: ledger, finisher: finisher, publisher: publisher, options: options, logger: logger, timerScheduled: timerScheduled)
        let control = ControlNodes(
            ledger: ledger, finisher: finisher, publisher: publisher, starter: starter, catalog: catalog, options: options,
            logger: logger, timerScheduled: timerScheduled)
        let attempts = AttemptRunner(
            ledger: ledger, publisher: publisher, control: control, execution: execution, options: options, logger: logger,
            faults: faults, timerScheduled: timerScheduled)
        let advancer = RunAdvancer(
            ledger: ledger, finisher: finisher, publisher: publisher, logger: logger, faults: faults, progress: progress)
        self.ledger = ledger
        self.finisher = finisher
        self.starter = starter
        self.control = control
        self.jobs = JobHandler(
            ledger: ledger, finisher: finisher, publisher: publisher, attempts: attempts, advancer: advancer, catalog: catalog,
            options: options, logger: logger, faults: faults, timerScheduled: timerScheduled)
        self.reconciler = RunReconciler(
            ledger: ledger, finisher: finisher, publisher: publisher, starter: starter, attempts: attempts, advancer: advancer,
            control: control, catalog: catalog, options: options, logger: logger)
        self.timers = TimerFirer(ledger: ledger, finisher: finisher, transport: backends.transport, options: options, logger: logger)
        self.inspector = RunInspector(ledger: ledger, control: control, catalog: catalog)
        self.claims = StoreClaims(records: backends.coordinationStore, options: options)
    }
}
