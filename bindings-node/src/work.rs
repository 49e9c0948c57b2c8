//! Work on a libuv worker thread: [`Work`], the task behind the `*Async` functions.

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{AsyncTask, Env, Status, Task};

/// A closure run on a libuv worker thread; its value resolves the Promise.
pub struct Work<T> {
    job: Option<Box<dyn FnOnce() -> T + Send>>,
}

impl<T> Work<T>
where
    Work<T>: Task,
{
    pub(crate) fn task(job: impl FnOnce() -> T + Send + 'static) -> AsyncTask<Work<T>> {
        AsyncTask::new(Work {
            job: Some(Box::new(job)),
        })
    }
}

impl<T> Task for Work<T>
where
    T: napi::bindgen_prelude::ToNapiValue + napi::bindgen_prelude::TypeName + Send + 'static,
{
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "task already ran"))?;
        catch_unwind(AssertUnwindSafe(job))
            .map_err(|_| napi::Error::new(Status::GenericFailure, "panic in a worker thread"))
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }
}
