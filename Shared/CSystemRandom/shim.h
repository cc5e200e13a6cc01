#ifndef SETTLE_CSYSTEMRANDOM_SHIM_H
#define SETTLE_CSYSTEMRANDOM_SHIM_H
// getrandom(2): glibc declares it in <sys/random.h>, which the Glibc module does not include.
#include <sys/random.h>
#endif
