package io.vodflow.storage;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;

import io.delta.storage.HadoopFileSystemLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A Delta LogStore for s3a:// that is safe for writers in several JVMs: a commit ({@code overwrite=false})
 * is one PutObject with {@code If-None-Match: *}, through Hadoop S3A's conditional create
 * ({@code fs.option.create.conditional.overwrite}, HADOOP-19256, hadoop-aws 3.4.2+ / 3.5.0). The store
 * refuses the second put of a version file (412), which S3A raises at close(); this class turns that into
 * the {@link java.nio.file.FileAlreadyExistsException} by which Delta retries the commit at the next
 * version. The same pattern as Delta's own {@code GCSLogStore} (a precondition on create).
 *
 * Rules and sources: delta-io/delta#3596 (the feature request, open), Delta's LogStore contract
 * (docs "Storage configuration": atomic visibility, mutual exclusion, consistent listing), S3's
 * conditional writes (PutObject If-None-Match). Safe only on an S3 server whose put-if-absent is atomic:
 * probe it with bench/s3_put_if_absent.py. Every writer of a table must use it (or delta-rs with
 * conditional_put=etag, the same protocol).
 *
 * Configure: spark.delta.logStore.s3a.impl=io.vodflow.storage.S3ConditionalLogStore.
 */
public class S3ConditionalLogStore extends HadoopFileSystemLogStore {
    /** Hadoop's createFile() option: PUT only if no object is at the path (checked at close). */
    static final String CONDITIONAL = "fs.option.create.conditional.overwrite";

    public S3ConditionalLogStore(Configuration hadoopConf) {
        super(hadoopConf);
    }

    @Override
    public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
            throws IOException {
        FileSystem fs = path.getFileSystem(hadoopConf);
        if (overwrite) {  // _last_checkpoint and the like: a plain PUT replaces the object atomically
            try (FSDataOutputStream out = fs.create(path, true)) {
                writeLines(out, actions);
            }
            return;
        }
        try {
            FSDataOutputStream out = (FSDataOutputStream) fs.createFile(path).overwrite(false)
                    .must(CONDITIONAL, true).build();
            try {
                writeLines(out, actions);
            } finally {
                out.close();  // the conditional PUT happens here
            }
        } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
            throw alreadyExists(path, e);
        } catch (IOException e) {
            if (isPreconditionFailure(e)) {
                throw alreadyExists(path, e);
            }
            throw e;
        }
    }

    /** S3A reports a refused conditional PUT (HTTP 412, or 409 for a conflicting concurrent one) as
     * RemoteFileChangedException or an AWS service exception carrying the status. */
    static boolean isPreconditionFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.apache.hadoop.fs.s3a.RemoteFileChangedException
                    || t instanceof org.apache.hadoop.fs.FileAlreadyExistsException) {
                return true;
            }
            String m = String.valueOf(t.getMessage());
            if (m.contains("PreconditionFailed") || m.contains("ConditionalRequestConflict")) {
                return true;
            }
        }
        return false;
    }

    private static java.nio.file.FileAlreadyExistsException alreadyExists(Path path, Throwable cause) {
        java.nio.file.FileAlreadyExistsException e = new java.nio.file.FileAlreadyExistsException(path.toString());
        e.initCause(cause);
        return e;
    }

    private static void writeLines(FSDataOutputStream out, Iterator<String> actions) throws IOException {
        Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8);
        while (actions.hasNext()) {
            w.write(actions.next());
            w.write('\n');
        }
        w.flush();
    }

    @Override
    public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
        return false;  // an S3 object appears whole at the end of its PUT
    }
}
