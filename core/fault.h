/* Named crash points for the fault tests. A build with MTR_FAULT_POINTS
 * (the default) lets the environment pick one point at which the process
 * kills itself with SIGKILL, as a power cut or an OOM kill would:
 *
 *   METERD_FAULT=name        crash the first time `name` is reached
 *   METERD_FAULT=name:N      crash the N-th time
 *
 * The points (grep MTR_FAULT for the list):
 *   ledger.close.in_txn         inside the close transaction, before COMMIT
 *   ingest.after_ledger_commit  close durable in the ledger, Kafka not told
 *   ingest.after_kafka_commit   Kafka commit done, ledger not yet confirmed
 *   emit.sender.before_results  records sent to AWS, answers not yet written
 *
 * Without MTR_FAULT_POINTS the macro compiles to nothing. */
#ifndef MTR_FAULT_H
#define MTR_FAULT_H

#ifdef MTR_FAULT_POINTS
void mtr_fault_point(const char *name);
#define MTR_FAULT(name) mtr_fault_point(name)
#else
#define MTR_FAULT(name) ((void)0)
#endif

#endif
