/*
 * keyproc_int.h - what keyproc.c shares with keyproc_sandbox.c only.
 */
#ifndef KBS_KEYPROC_INT_H
#define KBS_KEYPROC_INT_H

#include "err.h"

/*
 * Install the key process's seccomp allow-list (the calling thread and
 * every later one): read/write on its channels, memory, time,
 * randomness, exit.  Anything else kills the process.  Needs
 * no_new_privs set first.
 */
kbs_err kbs_keyproc_sandbox(kbs_errbuf *eb);

/* 1 when this process is not dumpable (prctl PR_GET_DUMPABLE is 0). */
int kbs_keyproc_not_dumpable(void);

#endif
