/* The capabilities the relay holds.  Each tier checks the ones it needs
 * before trying, so that a relay short of one says so in one line, naming
 * it, and takes the next tier (README "Capabilities").
 */
#ifndef MP_CAPS_H
#define MP_CAPS_H

#include <linux/capability.h>
#include <stdbool.h>

#ifndef CAP_BPF
#define CAP_BPF 39 /* Linux 5.8; before, CAP_SYS_ADMIN stands for it */
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38 /* Linux 5.8 */
#endif

/* CAP is in the relay's effective set. */
bool caps_have(int cap);

#endif
