#ifndef SETTLE_CHIREDIS_SHIM_H
#define SETTLE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
