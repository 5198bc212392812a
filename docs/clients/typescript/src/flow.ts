// The manager-to-learner flow of README.md's curl walk-through, through the
// typed client: a Full Manager signs in, makes a user group and two courses,
// finds one course in the catalog, adds it to the group and invites to the
// group, previews the invitation email and sends a copy to their own address; an
// employee previews the passcode, redeems it, signs in and sees the course
// among their enrollments; the manager sees the seat taken and exports the
// redemptions as CSV.
//
// Needs ENROLLKIT_BASE_URL (the server's origin; the API is under /api/v1),
// MANAGER_EMAIL and MANAGER_PASSWORD (a Full Manager). Prints one line per
// step; on the first failure prints what the server answered (its problem
// document) and exits with status 1.

import createClient from "openapi-fetch";
import type { components, paths } from "./openapi.js";

type Schemas = components["schemas"];

/** What every openapi-fetch call resolves to, whatever the operation. */
interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

class FlowError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly answer?: unknown,
  ) {
    super(message);
  }
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new FlowError("environment", `${name} is not set`);
  }
  return value;
}

/** The body of a call that had to answer `status`, or a FlowError with the problem document. */
function expectStatus<T>(step: string, outcome: Outcome<T>, status: number): T {
  const { data, error, response } = outcome;
  if (response.status !== status) {
    const answer = error !== undefined ? error : data;
    throw new FlowError(
      step,
      `${response.url} answered ${response.status}, want ${status}`,
      answer,
    );
  }
  if (data === undefined) {
    throw new FlowError(step, `${response.url} answered ${status} without a body`, error);
  }
  return data;
}

/** A FlowError unless `ok`; `answer` is printed with it. */
function check(step: string, ok: boolean, message: string, answer?: unknown): void {
  if (!ok) {
    throw new FlowError(step, message, answer);
  }
}

function done(step: string, detail: string): void {
  console.log(`ok   ${step}: ${detail}`);
}

async function main(): Promise<void> {
  const baseUrl = env("ENROLLKIT_BASE_URL") + "/api/v1";
  const managerEmail = env("MANAGER_EMAIL");
  const managerPassword = env("MANAGER_PASSWORD");
  const suffix = String(Date.now());

  const client = createClient<paths>({ baseUrl });
  const signedIn = (token: string) =>
    createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  // 1. The Full Manager signs in.
  let step = "manager login";
  const managerTokens = expectStatus(
    step,
    await client.POST("/auth/login", {
      body: { email: managerEmail, password: managerPassword },
    }),
    200,
  );
  check(step, managerTokens.access_token !== "", "empty access_token", managerTokens);
  check(step, managerTokens.token_type.toLowerCase() === "bearer", "token_type is not Bearer", managerTokens);
  const manager = signedIn(managerTokens.access_token);
  done(step, `${managerEmail}, token valid for ${managerTokens.expires_in} s`);

  // 2. Who the token is: a person, with the organization group they manage.
  step = "GET /me";
  const me = expectStatus(step, await manager.GET("/me"), 200);
  if (me.kind !== "user") {
    throw new FlowError(step, `kind is ${me.kind}, want user`, me);
  }
  check(step, me.email === managerEmail, "email is not the manager's", me);
  check(step, me.role === "full_manager", `role is ${me.role}, want full_manager`, me);
  const organizationGroupId = me.organization_group_id;
  if (organizationGroupId === undefined) {
    throw new FlowError(step, "a Full Manager without organization_group_id", me);
  }
  done(step, `${me.first_name} ${me.last_name}, ${me.role}, organization group ${organizationGroupId}`);

  // 3. A user group in that organization group.
  step = "create user group";
  const groupName = `New warehouse staff ${suffix}`;
  const group = expectStatus(
    step,
    await manager.POST("/user-groups", {
      body: { name: groupName, organization_group_id: organizationGroupId },
    }),
    201,
  );
  check(step, group.name === groupName, "name differs from the one sent", group);
  check(step, group.organization_group_id === organizationGroupId, "organization_group_id differs", group);
  check(step, group.organization_id === me.organization_id, "organization_id is not the manager's", group);
  check(step, group.course_count === 0 && group.member_count === 0, "a new group is not empty", group);
  done(step, `${group.name} (${group.id})`);

  // 4. Two courses in the catalog.
  const createCourse = async (request: Schemas["CreateCourseRequest"]): Promise<Schemas["Course"]> => {
    const course = expectStatus(step, await manager.POST("/courses", { body: request }), 201);
    check(step, course.name === request.name && course.code === request.code, "name or code differs", course);
    return course;
  };
  step = "create courses";
  const forklift = await createCourse({ name: `Forklift Safety ${suffix}`, code: `WH-101-${suffix}` });
  const firstAid = await createCourse({ name: `First Aid Basics ${suffix}`, code: `HS-200-${suffix}` });
  done(step, `${forklift.name} (${forklift.code}), ${firstAid.name} (${firstAid.code})`);

  // 5. Search the catalog by name, case-insensitively: only the forklift course.
  step = "search catalog";
  const query = `forklift safety ${suffix}`;
  const found = expectStatus(step, await manager.GET("/courses", { params: { query: { q: query } } }), 200);
  check(step, found.data.length === 1, `q=${query} found ${found.data.length} courses, want 1`, found);
  const [hit] = found.data;
  check(step, hit !== undefined && hit.id === forklift.id, "the course found is not the forklift course", found);
  done(step, `q=${JSON.stringify(query)} found ${forklift.name}`);

  // 6. Add the course to the group.
  step = "add course to group";
  const addition = expectStatus(
    step,
    await manager.POST("/user-groups/{id}/courses", {
      params: { path: { id: group.id } },
      body: { course_ids: [forklift.id] },
    }),
    200,
  );
  check(step, addition.added === 1, `added ${addition.added}, want 1`, addition);
  check(step, addition.enrolled === 0, `enrolled ${addition.enrolled} in an empty group, want 0`, addition);
  done(step, `added ${addition.added} course, enrolled ${addition.enrolled}`);

  // 7. An active invitation to the group, redeemed at once (no email verification).
  step = "create invitation";
  const seats = 25;
  const invitationName = `Warehouse onboarding ${suffix}`;
  const invitation = expectStatus(
    step,
    await manager.POST("/invitations", {
      body: {
        name: invitationName,
        max_registrations: seats,
        organization_group_id: organizationGroupId,
        user_group_ids: [group.id],
        message: "Welcome to the team!\nPlease register before Monday.",
        status: "active",
        require_email_verification: false,
      },
    }),
    201,
  );
  check(step, invitation.status === "active", `status is ${invitation.status}, want active`, invitation);
  check(step, invitation.require_email_verification === false, "require_email_verification is on", invitation);
  check(step, invitation.passcode !== "", "no passcode", invitation);
  check(
    step,
    invitation.registrations_used === 0 && invitation.registrations_remaining === seats,
    "a new invitation has seats taken",
    invitation,
  );
  check(
    step,
    invitation.user_group_ids.length === 1 && invitation.user_group_ids[0] === group.id,
    "user_group_ids is not the group",
    invitation,
  );
  done(step, `${invitation.name}, passcode ${invitation.passcode}, ${invitation.registrations_remaining} seats`);

  // 8. The manager previews the invitation email: what a delivery sends now.
  step = "preview email";
  const email = expectStatus(
    step,
    await manager.GET("/invitations/{id}/email", { params: { path: { id: invitation.id } } }),
    200,
  );
  check(step, email.subject !== "", "no subject", email);
  check(step, email.text.includes(invitation.passcode), "the passcode is not in the text", email);
  check(step, email.html.includes(invitation.passcode), "the passcode is not in the HTML", email);
  done(step, `subject ${JSON.stringify(email.subject)}, passcode in the text and the HTML`);

  // 9. ...and sends a copy to their own address, to forward it: one delivery, queued.
  step = "send a copy";
  const accepted = expectStatus(
    step,
    await manager.POST("/invitations/{id}/deliveries", {
      params: { path: { id: invitation.id } },
      body: { send_copy: true },
    }),
    202,
  );
  check(step, accepted.data.length === 1, `${accepted.data.length} deliveries, want 1`, accepted);
  const [delivery] = accepted.data;
  if (delivery === undefined || delivery.recipient.toLowerCase() !== managerEmail.toLowerCase()) {
    throw new FlowError(step, "the delivery is not to the manager", accepted);
  }
  check(step, delivery.copy, "the delivery is not marked as the manager's copy", accepted);
  check(step, delivery.status === "queued", `status is ${delivery.status}, want queued`, accepted);
  done(step, `delivery ${delivery.id} to ${delivery.recipient}, ${delivery.status}`);

  // 10. The employee sees where the passcode leads.
  step = "preview passcode";
  const preview = expectStatus(
    step,
    await client.POST("/redemptions/preview", { body: { passcode: invitation.passcode } }),
    200,
  );
  check(step, preview.invitation_name === invitationName, "invitation_name differs", preview);
  check(step, preview.registrations_remaining === seats, `registrations_remaining is ${preview.registrations_remaining}`, preview);
  check(step, preview.user_groups.some((g) => g.id === group.id), "the group is not listed", preview);
  check(step, preview.courses.some((c) => c.id === forklift.id), "the course is not listed", preview);
  check(step, !preview.courses.some((c) => c.id === firstAid.id), "a course outside the group is listed", preview);
  done(step, `${preview.organization_name}: ${preview.invitation_name}, courses ${preview.courses.map((c) => c.name).join(", ")}`);

  // 11. ...and registers with it: a new account, active and enrolled at once.
  step = "redeem passcode";
  const learnerEmail = `learner-${suffix}@flow.example`;
  const learnerPassword = `Learner-passphrase-${suffix}`;
  const redeemed = await client.POST("/redemptions", {
    body: {
      passcode: invitation.passcode,
      email: learnerEmail,
      first_name: "Grace",
      last_name: "Hopper",
      password: learnerPassword,
    },
  });
  const redemption = expectStatus(step, redeemed, 201);
  check(step, redemption.status === "active", `status is ${redemption.status}, want active`, redemption);
  check(step, redemption.invitation_id === invitation.id, "invitation_id differs", redemption);
  check(step, redemption.email === learnerEmail, "email differs", redemption);
  check(step, redemption.user !== undefined, "no user on an active redemption", redemption);
  check(step, redemption.user_groups.some((g) => g.id === group.id), "not in the group", redemption);
  check(step, redemption.enrollments.some((e) => e.course_id === forklift.id), "not enrolled in the course", redemption);
  done(step, `${redemption.email} is ${redemption.status}, ${redemption.enrollments.length} enrollment(s)`);

  // 12. The learner signs in and lists their enrollments.
  step = "learner login";
  const learnerTokens = expectStatus(
    step,
    await client.POST("/auth/login", { body: { email: learnerEmail, password: learnerPassword } }),
    200,
  );
  const learner = signedIn(learnerTokens.access_token);
  done(step, learnerEmail);

  step = "GET /me/enrollments";
  const enrollments = expectStatus(step, await learner.GET("/me/enrollments"), 200);
  const enrollment = enrollments.data.find((e) => e.course_id === forklift.id);
  if (enrollment === undefined) {
    throw new FlowError(step, "the course is not among the learner's enrollments", enrollments);
  }
  check(step, enrollment.course_name === forklift.name, "course_name differs", enrollment);
  check(step, enrollment.user_group_id === group.id, "user_group_id is not the group", enrollment);
  check(step, enrollments.data.length === 1, `${enrollments.data.length} enrollments, want 1`, enrollments);
  done(step, `${enrollment.course_name} (${enrollment.course_code ?? "no code"}) through ${group.name}`);

  // 13. The manager sees who redeemed, and the seat taken.
  step = "list redemptions";
  const listed = expectStatus(
    step,
    await manager.GET("/invitations/{id}/redemptions", { params: { path: { id: invitation.id } } }),
    200,
  );
  // The operation also answers text/csv (on Accept: text/csv); this call asks for JSON.
  if (typeof listed === "string") {
    throw new FlowError(step, "answered CSV, want JSON", listed);
  }
  check(step, listed.data.length === 1, `${listed.data.length} redemptions, want 1`, listed);
  const [record] = listed.data;
  if (record === undefined || record.email !== learnerEmail) {
    throw new FlowError(step, "the learner's redemption is not listed", listed);
  }
  check(step, record.user_id === redemption.user?.id, "user_id is not the redeemed account", listed);
  check(step, record.user_groups.some((g) => g.id === group.id), "the group is not on the record", listed);

  const after = expectStatus(
    step,
    await manager.GET("/invitations/{id}", { params: { path: { id: invitation.id } } }),
    200,
  );
  check(
    step,
    after.registrations_used === 1 && after.registrations_remaining === seats - 1,
    `registrations_used ${after.registrations_used}, remaining ${after.registrations_remaining}`,
    after,
  );
  done(step, `${record.first_name} ${record.last_name} <${record.email}>; seats used ${after.registrations_used}, remaining ${after.registrations_remaining}`);

  // 14. ...and exports the redemptions as CSV: the header row, then the learner.
  step = "export redemptions as CSV";
  const exported = await manager.GET("/invitations/{id}/redemptions", {
    params: { path: { id: invitation.id } },
    headers: { Accept: "text/csv" },
    parseAs: "text",
  });
  const csv = expectStatus(step, exported, 200);
  const contentType = exported.response.headers.get("Content-Type") ?? "";
  check(step, contentType.startsWith("text/csv"), `Content-Type is ${contentType}, want text/csv`, csv);
  const rows = csv.split("\r\n").filter((row) => row !== "");
  const header = '"first_name","last_name","email","redeemed_at","user_groups"';
  check(step, rows[0] === header, `the header row is ${JSON.stringify(rows[0])}, want ${header}`, csv);
  check(step, rows.length === 2, `${rows.length - 1} rows after the header, want 1`, csv);
  const row = rows[1] ?? "";
  check(step, row.startsWith('"Grace","Hopper",'), "the row is not the learner's name", csv);
  check(step, row.includes(`"${learnerEmail}"`), "the learner's email is not in the row", csv);
  check(step, row.includes(group.name), "the group is not in the row", csv);
  done(step, `${rows.length - 1} row: ${row}`);

  console.log("flow passed");
}

main().catch((err: unknown) => {
  if (err instanceof FlowError) {
    console.error(`FAIL ${err.step}: ${err.message}`);
    if (err.answer !== undefined) {
      console.error(typeof err.answer === "string" ? err.answer : JSON.stringify(err.answer, null, 2));
    }
  } else {
    console.error("FAIL:", err);
  }
  process.exit(1);
});
