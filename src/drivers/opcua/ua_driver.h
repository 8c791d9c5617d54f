/* The OPC UA driver (client side, over ua_client.h): one worker thread per
 * device connects to the server, resolves browse paths, checks data types,
 * and either creates one subscription per group (mode subscribe: Publish
 * data changes become sample batches) or Reads each group every interval
 * (mode poll). Quality is the DataValue's StatusCode; the timestamp is the
 * source timestamp, else the server timestamp, else the time received.
 * After a failure (server restart, network loss, session lost) every tag of
 * the device goes Bad_NoCommunication and the worker reconnects with
 * exponential back-off, re-creating the session and subscriptions. Use
 * through drivers/driver.h.
 *
 * Writes (ua_driver_write, from the HTTP threads through the write gate)
 * are queued for the worker, which runs them between its other service
 * calls on the same session, reads the value back and publishes it.
 *
 * Discovery: before the gateway builds its tag table (at start and at every
 * reload) it calls ua_driver_prepare, which for each OPC UA device connects
 * once, turns every Variable under the groups' `browse:` folders into a tag
 * and takes the data type and engineering unit of the listed tags without
 * `type:` / `unit:` from the server. What it found is cached in
 * <data_dir>/opcua/<device>.tags, used when the server cannot be reached
 * (see docs/configuration.md, "OPC UA devices"). */
#ifndef AIRLOCK_OPCUA_UA_DRIVER_H
#define AIRLOCK_OPCUA_UA_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"
#include "drivers/driver.h"
#include "drivers/opcua/ua_services.h"
#include "drivers/opcua/ua_types.h"

struct ua_driver;

/* See driver_start(). dev->ua.pki_dir should have been set by
 * ua_driver_prepare (else ./data/pki is used for secure modes). */
struct ua_driver *ua_driver_start(const struct config_device *dev, const struct driver_env *env,
                                  char *err, size_t err_len);
/* See driver_stop(): wakes the worker, which closes the session (bounded by
 * the device's timeout) and exits; joins it. Writes still waiting end with
 * "device stopping"; returns once every ua_driver_write caller has left. */
void ua_driver_stop(struct ua_driver *d);

/* See driver_write(). The value is converted to the Variant type of the
 * node (its DataType read at connect, else the type of the last value the
 * node sent) by ua_driver_value_to_variant, written with the Write service
 * (attribute Value, no index range, no timestamps) on the worker's session
 * between its other calls (the worker is woken for it), then the Value is
 * read back and published as a sample of the tag. A Bad StatusCode of the
 * write is named in out->error ("the server refused the write:
 * BadNotWritable (0x803B0000): ..."); a lost connection or session ends the
 * connection as any failure does (the worker reconnects with back-off); a
 * write while disconnected fails at once (or after one connection attempt
 * when the back-off allows it). */
bool ua_driver_write(struct ua_driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                     struct driver_write_result *out);

/* ------------------------------------------------------------ discovery */

/* For every OPC UA device of cfg: sets dev->ua.pki_dir to <data_dir>/pki
 * (creating airlock's certificate once, before any driver runs, when a
 * device uses security), then runs ua_driver_discover (enabled devices
 * only) and applies the result to cfg: the listed tags get the server's
 * type and unit where the file gives none, and the variables under each
 * group's browse folders are appended to that group as tags named
 * <namespace>/<browse names joined by '/'>. A result is saved to
 * <data_dir>/opcua/<device>.tags; when the server cannot be reached, the
 * saved one is used (logged as a warning); with none, the device keeps only
 * its listed tags (a warning). Discovered tags whose path is already taken
 * are skipped with a warning. Synchronous, the devices in parallel
 * (a thread each): each costs a connection and a few requests, each
 * bounded by its timeout_ms. Call once per loaded configuration (it
 * appends tags). False only when out of memory
 * (err says so); cfg may then hold part of the result. */
bool ua_driver_prepare(struct config *cfg, char *err, size_t err_len);

/* What discovery learnt about one tag. A listed tag (group NULL) is keyed
 * by its configured node or browse path text (ref); a browsed one by its
 * group, folder (as configured) and name, with ref its NodeId text. */
struct ua_discovered {
    char *group;  /* browsed: the group's name; NULL: a listed tag */
    char *folder; /* browsed: the browse folder text as configured */
    char *name;   /* browsed: tag name below the namespace ("Area1/Line1/Temp") */
    char *ref;    /* listed: node or browse path as configured; browsed: NodeId text */
    enum value_type type;
    char *unit; /* "" when the server gives none */
};

struct ua_discovery {
    struct ua_discovered *items;
    size_t count, capacity;
    size_t arrays_skipped;      /* browsed variables that hold arrays */
    size_t unsupported_skipped; /* browsed variables of a type airlock cannot hold */
    bool truncated;             /* browse_max_tags or browse_max_depth was reached */
};

/* Connects to dev's server and discovers what ua_driver_prepare describes
 * (listed tags' types and units, browse folders' variables). Every string
 * in *out is malloc'd; free with ua_discovery_free (also after a failure).
 * False with the reason in err when the server cannot be reached or a
 * request failed (the caller then uses the cache). A listed tag the server
 * does not know, or a browse folder that does not exist, is not a failure:
 * it is left out and logged. */
bool ua_driver_discover(const struct config_device *dev, struct ua_discovery *out, char *err,
                        size_t err_len);
void ua_discovery_free(struct ua_discovery *d);

/* Writes d as JSON to path (atomically: a temporary file, fsync, rename).
 * False with err on an I/O error. */
bool ua_discovery_save(const struct ua_discovery *d, const char *device, const char *endpoint,
                       const char *path, char *err, size_t err_len);
/* Reads a file written by ua_discovery_save (at most 64 MiB; entries with
 * an invalid name, type or unit are dropped). False with err when it is
 * missing, unreadable or not such a file. */
bool ua_discovery_load(const char *path, struct ua_discovery *out, char *err, size_t err_len);

/* --------------------------------------------------------- pure helpers */

/* Parses a browse path from the Root folder, "/Objects/2:Plant/2:Temp":
 * '/'-separated browse names, each "[<namespace index>:]<name>" (namespace
 * 0 without a prefix), following hierarchical references (and subtypes)
 * forward; '&' escapes the next character ("&/" is a '/' in a name). 1 to 32
 * elements, none empty. *elements (count of them) and their names are in
 * the arena. False with a reason in why. */
bool ua_browse_path_parse(const char *text, struct ua_arena *a,
                          struct ua_relative_path_element **elements, size_t *count, char *why,
                          size_t why_len);

/* The value type of tags whose server DataType is data_type: the built-in
 * types (Boolean bool; SByte, Int16, Int32, Int64, DateTime int64; Byte,
 * UInt16, UInt32, UInt64, StatusCode uint64; Float, Double double; String,
 * LocalizedText, Guid, ByteString, XmlElement, NodeId, ExpandedNodeId,
 * QualifiedName string) and the standard subtypes of namespace 0 (Number,
 * Integer, UInteger, Enumeration, Duration, UtcTime, LocaleId, ...). False
 * for anything else (structures, custom types: the caller then looks at a
 * value). */
bool ua_driver_type_of_datatype(const struct ua_nodeid *data_type, enum value_type *out);

/* The value type a scalar of built-in type `type` becomes (as above). False
 * for ExtensionObject, DataValue, Variant, DiagnosticInfo and unknown ids. */
bool ua_driver_type_of_builtin(unsigned type, enum value_type *out);

/* Converts a DataValue's Variant to a value of type want: the Variant's
 * natural value (ua_variant_to_value, plus text forms for Guid,
 * ByteString "0x<hex>", NodeId, ExpandedNodeId and QualifiedName
 * "<ns>:<name>") then a lossless conversion to want (numbers between the
 * numeric types when exact, bool from 0/1, any value to string). Strings
 * are formatted into text[0..text_cap) or point into the Variant. False
 * with a static reason in *why for an array, an empty Variant, an
 * unsupported type or a value want cannot hold. */
bool ua_driver_convert(const struct ua_variant *v, enum value_type want, struct value *out,
                       char *text, size_t text_cap, const char **why);

/* The built-in type a Write of a node whose DataType is data_type carries:
 * Boolean, SByte ... UInt64, Float and Double themselves, and the
 * namespace-0 subtypes Duration (Double), Counter and IntegerId (UInt32).
 * 0 for anything else: abstract types (Number, Integer, UInteger),
 * enumerations and other subtypes (the caller then takes the type of the
 * value the node holds), and the types airlock does not write (String,
 * DateTime, ...). */
unsigned ua_driver_write_type_of_datatype(const struct ua_nodeid *data_type);

/* Converts v to a scalar Variant of built-in type `type` for a Write:
 * integers (SByte ... UInt64) take any value that is exactly an integer
 * within the type's range (a bool is 0 or 1); Double takes any number that
 * converts exactly (64-bit integers beyond 2^53 may not); Float takes a
 * double rounded to single precision, or an integer it holds exactly;
 * Boolean takes a bool, 0 or 1. False with one line in why (e.g. "300 is out
 * of range for the node's data type Byte (0 to 255)") for a string, NaN or
 * infinity, a value the type cannot hold, or a type other than these
 * eleven. */
bool ua_driver_value_to_variant(const struct value *v, unsigned type, struct ua_variant *out,
                                char *why, size_t why_len);

/* Joins the browse names names[0..count) into a tag name of at most
 * max_segments segments: each name sanitized to the tag-path rules
 * (characters other than A-Z a-z 0-9 _ - . become '_', at most 64), the
 * leading names joined with '.' into the first segment when there are too
 * many. False when the result does not fit in out_cap or count is 0. */
bool ua_driver_tag_name(const char *const *names, size_t count, size_t max_segments, char *out,
                        size_t out_cap);

#endif
