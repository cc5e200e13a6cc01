#ifndef SETTLE_CRDKAFKA_SHIM_H
#define SETTLE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
